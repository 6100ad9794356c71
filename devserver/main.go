// Command mlpipe-devserver runs a single-process Temporal server (all four
// services) plus the Temporal Web UI, persisted to SQLite. It is what
// mlpipe's embedded mode starts; see README.md for flags and rationale.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/searchattribute/sadefs"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad flags or a port already in use
)

// Keyword search attributes the mlpipe engine writes on every pipeline run.
var mlpipeSearchAttributes = []string{"MlpipePipeline", "MlpipeModel", "MlpipeStatus", "MlpipeTrigger"}

type options struct {
	IP              string
	Port            int
	HTTPPort        int
	UIPort          int
	Headless        bool
	MetricsPort     int
	DBFilename      string
	Namespaces      []string
	LogLevel        string
	LogFormat       string
	SearchAttrs     map[string]enumspb.IndexedValueType
	Retention       time.Duration
	RetentionSet    bool // --retention given: also applied to existing namespaces
	ShutdownTimeout time.Duration
	DynamicConfig   map[string]any
}

// usageError marks errors that should exit with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("mlpipe-devserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	var namespaces, searchAttrs, dynConf stringList
	fs.StringVar(&o.IP, "ip", "127.0.0.1", "IP address every listener binds to")
	fs.IntVar(&o.Port, "port", 7233, "frontend gRPC port (what SDK clients and workers connect to)")
	fs.IntVar(&o.HTTPPort, "http-port", 7243, "frontend HTTP API port (0 = pick a free port)")
	fs.IntVar(&o.UIPort, "ui-port", 8233, "Temporal Web UI port (0 disables the UI)")
	fs.BoolVar(&o.Headless, "headless", false, "do not start the Web UI")
	fs.IntVar(&o.MetricsPort, "metrics-port", 0, "Prometheus metrics port, served at /metrics (0 = off)")
	fs.StringVar(&o.DBFilename, "db-filename", "", "SQLite database file (created on first start); empty = in-memory")
	fs.Var(&namespaces, "namespace", "extra namespace to register (repeatable; 'default' is always registered)")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "server log level: debug|info|warn|error")
	fs.StringVar(&o.LogFormat, "log-format", "console", "server log format on stderr: console|json")
	fs.Var(&searchAttrs, "search-attribute", "extra custom search attribute Name=Type (repeatable; Type: Keyword, Text, Int, Double, Bool, Datetime, KeywordList)")
	fs.DurationVar(&o.Retention, "retention", 7*24*time.Hour, "retention of closed workflows in the namespaces registered here")
	fs.Var(&dynConf, "dynamic-config-value", "override a Temporal dynamic config key, KEY=JSON_VALUE (repeatable), e.g. limit.maxIDLength=255")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGTERM/SIGINT waits for a graceful stop")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mlpipe-devserver [flags]\n\nTemporal server + Web UI on SQLite for mlpipe's embedded mode.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}

	fs.Visit(func(f *flag.Flag) {
		if f.Name == "retention" {
			o.RetentionSet = true
		}
	})
	o.DynamicConfig = map[string]any{}
	for _, kv := range dynConf {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("invalid --dynamic-config-value %q (want KEY=JSON_VALUE)", kv)
		}
		val, err := parseJSONValue(v)
		if err != nil {
			return nil, usagef("invalid --dynamic-config-value %q: %v", kv, err)
		}
		o.DynamicConfig[strings.TrimSpace(k)] = val
	}

	if o.IP == "localhost" {
		o.IP = "127.0.0.1" // the server needs an IP, not a host name
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--port", o.Port}, {"--http-port", o.HTTPPort}, {"--ui-port", o.UIPort}, {"--metrics-port", o.MetricsPort}} {
		if p.v < 0 || p.v > 65535 || (p.name == "--port" && p.v == 0) {
			return nil, usagef("invalid %s %d", p.name, p.v)
		}
	}
	if o.UIPort == 0 {
		o.Headless = true
	}
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, usagef("invalid --log-level %q (want debug, info, warn or error)", o.LogLevel)
	}
	if o.LogFormat != "console" && o.LogFormat != "json" {
		return nil, usagef("invalid --log-format %q (want console or json)", o.LogFormat)
	}
	if o.Retention < time.Hour {
		return nil, usagef("--retention must be at least 1h")
	}

	// Namespaces: default first, then extras, without duplicates.
	seen := map[string]bool{"default": true}
	o.Namespaces = []string{"default"}
	for _, ns := range namespaces {
		ns = strings.TrimSpace(ns)
		if ns == "" || seen[ns] {
			continue
		}
		seen[ns] = true
		o.Namespaces = append(o.Namespaces, ns)
	}

	// Search attributes: mlpipe's own Keyword set plus --search-attribute.
	o.SearchAttrs = map[string]enumspb.IndexedValueType{}
	for _, name := range mlpipeSearchAttributes {
		o.SearchAttrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	for _, kv := range searchAttrs {
		name, typ, ok := strings.Cut(kv, "=")
		name, typ = strings.TrimSpace(name), strings.TrimSpace(typ)
		if !ok || name == "" || typ == "" {
			return nil, usagef("invalid --search-attribute %q (want Name=Type)", kv)
		}
		t, err := parseIndexedValueType(typ)
		if err != nil {
			return nil, usagef("invalid --search-attribute %q: %v", kv, err)
		}
		if sadefs.IsReserved(name) {
			return nil, usagef("invalid --search-attribute %q: %s is a reserved or built-in search attribute name", kv, name)
		}
		if prev, dup := o.SearchAttrs[name]; dup && prev != t {
			return nil, usagef("search attribute %s given twice with different types", name)
		}
		o.SearchAttrs[name] = t
	}
	return o, nil
}

func parseIndexedValueType(s string) (enumspb.IndexedValueType, error) {
	for name, v := range enumspb.IndexedValueType_shorthandValue {
		if v != 0 && strings.EqualFold(name, s) {
			return enumspb.IndexedValueType(v), nil
		}
	}
	var names []string
	for name, v := range enumspb.IndexedValueType_shorthandValue {
		if v != 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return 0, fmt.Errorf("unknown type %q (want one of %s)", s, strings.Join(names, ", "))
}

// parseJSONValue decodes a dynamic config value. Integral numbers become int,
// the only integer type the server's dynamic config accepts.
func parseJSONValue(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return int(i), nil
		}
		return n.Float64()
	}
	return v, nil
}

type readyLine struct {
	Ready    bool   `json:"ready"`
	Frontend string `json:"frontend"`
	UI       string `json:"ui,omitempty"`
	HTTP     string `json:"http"`
	Metrics  string `json:"metrics,omitempty"`
	DB       string `json:"db"`
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := parseFlags(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(os.Stderr, "mlpipe-devserver: %v\n", err)
		return exitUsage
	}

	// Register for signals before anything is started, so an early SIGTERM
	// still goes through the orderly shutdown below.
	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)

	srv, err := start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlpipe-devserver: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}

	line := readyLine{
		Ready:    true,
		Frontend: hostPort(opts.IP, opts.Port),
		HTTP:     hostPort(opts.IP, srv.httpPort),
		DB:       opts.DBFilename,
	}
	if line.DB == "" {
		line.DB = ":memory:"
	}
	if !opts.Headless {
		line.UI = "http://" + hostPort(opts.IP, opts.UIPort)
	}
	if opts.MetricsPort > 0 {
		line.Metrics = "http://" + hostPort(opts.IP, opts.MetricsPort) + "/metrics"
	}
	b, _ := json.Marshal(line)
	fmt.Fprintln(os.Stdout, string(b))

	select {
	case sig := <-sigCh:
		fmt.Fprintf(os.Stderr, "mlpipe-devserver: received %v, shutting down\n", sig)
	case err := <-srv.fatal:
		fmt.Fprintf(os.Stderr, "mlpipe-devserver: %v\n", err)
		srv.stop(opts.ShutdownTimeout)
		return exitFailure
	}

	// A second signal skips the graceful stop.
	done := make(chan struct{})
	go func() {
		srv.stop(opts.ShutdownTimeout)
		close(done)
	}()
	select {
	case <-done:
	case sig := <-sigCh:
		fmt.Fprintf(os.Stderr, "mlpipe-devserver: received second %v, exiting now\n", sig)
	}
	return exitOK
}
