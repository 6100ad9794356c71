//go:build !unix

package main

// lockDatabase is a no-op where flock(2) is not available.
func lockDatabase(string) (func(), error) { return func() {}, nil }
