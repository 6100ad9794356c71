package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.IP != "127.0.0.1" || o.Port != 7233 || o.HTTPPort != 7243 || o.UIPort != 8233 || o.MetricsPort != 0 {
		t.Fatalf("unexpected ports: %+v", o)
	}
	if o.Headless || o.DBFilename != "" || o.LogLevel != "warn" || o.Retention != 168*time.Hour || o.RetentionSet {
		t.Fatalf("unexpected defaults: %+v", o)
	}
	if len(o.Namespaces) != 1 || o.Namespaces[0] != "default" {
		t.Fatalf("namespaces: %v", o.Namespaces)
	}
	for _, name := range mlpipeSearchAttributes {
		if o.SearchAttrs[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Fatalf("missing %s: %v", name, o.SearchAttrs)
		}
	}
}

func TestParseFlagsValues(t *testing.T) {
	o, err := parseFlags([]string{
		"--ip", "localhost", "--port", "7300", "--ui-port", "0",
		"--namespace", "ml", "--namespace", "default", "--namespace", "ml",
		"--search-attribute", "Score=double", "--search-attribute", "Tags=KeywordList",
		"--retention", "48h", "--dynamic-config-value", "limit.maxIDLength=255",
		"--dynamic-config-value", `frontend.enableBatcher=false`,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.IP != "127.0.0.1" || o.Port != 7300 || !o.Headless || !o.RetentionSet || o.Retention != 48*time.Hour {
		t.Fatalf("unexpected: %+v", o)
	}
	if strings.Join(o.Namespaces, ",") != "default,ml" {
		t.Fatalf("namespaces: %v", o.Namespaces)
	}
	if o.SearchAttrs["Score"] != enumspb.INDEXED_VALUE_TYPE_DOUBLE || o.SearchAttrs["Tags"] != enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST {
		t.Fatalf("search attributes: %v", o.SearchAttrs)
	}
	if v, ok := o.DynamicConfig["limit.maxIDLength"].(int); !ok || v != 255 {
		t.Fatalf("dynamic config int: %#v", o.DynamicConfig)
	}
	if v, ok := o.DynamicConfig["frontend.enableBatcher"].(bool); !ok || v {
		t.Fatalf("dynamic config bool: %#v", o.DynamicConfig)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--log-level", "chatty"},
		{"--search-attribute", "NoType"},
		{"--search-attribute", "X=Blob"},
		{"--search-attribute", "WorkflowType=Keyword"},
		{"--port", "0"},
		{"--port", "70000"},
		{"--retention", "1m"},
		{"--dynamic-config-value", "k=notjson"},
		{"stray"},
	} {
		_, err := parseFlags(args, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: want usage error, got %v", args, err)
		}
	}
}

func TestCheckPortsNamesFlag(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = checkPorts("127.0.0.1", []portClaim{{port, "Web UI", "--ui-port"}})
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--ui-port") {
		t.Fatalf("want usage error naming --ui-port, got %v", err)
	}
	err = checkPorts("127.0.0.1", []portClaim{{7999, "a", "--port"}, {7999, "b", "--ui-port"}})
	if !errors.As(err, &ue) {
		t.Fatalf("want duplicate-port error, got %v", err)
	}
}
