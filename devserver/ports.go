package main

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// portClaim is one listener we are about to open, with the flag that moves it.
type portClaim struct {
	port int
	what string
	flag string
}

// checkPorts makes sure every port is distinct and currently free, so that a
// conflict is reported clearly up front instead of failing deep inside the
// server (or, for the UI, killing the process from a background goroutine).
func checkPorts(ip string, claims []portClaim) error {
	byPort := map[int]portClaim{}
	for _, c := range claims {
		if prev, ok := byPort[c.port]; ok {
			return usagef("port %d is given both to the %s (%s) and the %s (%s); change one of them",
				c.port, prev.what, prev.flag, c.what, c.flag)
		}
		byPort[c.port] = c
	}
	for _, c := range claims {
		l, err := net.Listen("tcp", hostPort(ip, c.port))
		if err != nil {
			return usagef("port %d on %s (%s) is already in use or not available: %v; "+
				"stop whatever holds it or choose another port with %s",
				c.port, ip, c.what, err, c.flag)
		}
		_ = l.Close()
	}
	return nil
}

// freePort asks the kernel for an unused port on ip. Ports for the internal
// services (history, matching, worker) are not user-facing, so any free port
// will do. The listener is closed before the server binds it; Go sets
// SO_REUSEADDR, and the kernel does not hand out the same ephemeral port again
// right away.
func freePort(ip string, avoid map[int]bool) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", hostPort(ip, 0))
		if err != nil {
			return 0, fmt.Errorf("cannot allocate a free port on %s: %w", ip, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !avoid[port] {
			avoid[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("cannot allocate a free port on %s", ip)
}

// waitListening polls until something accepts TCP connections on addr.
func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %v: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
