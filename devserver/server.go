package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	clusterName = "active"
	// A fixed cluster ID (it must be a UUID): the database keeps the first
	// one it saw anyway, and a fixed value avoids a "config mismatches
	// persisted metadata" warning on every restart.
	clusterID = "6d6c7069-7065-4465-a673-657276657200"
)

type devServer struct {
	temporal temporal.Server
	ui       *uiserver.Server
	httpPort int
	dbFile   string
	logLevel zap.AtomicLevel
	unlock   func()
	fatal    chan error
}

// dynamicConfig is what the dev server changes from Temporal's defaults.
// Keys come from the server's own definitions so a rename fails the build.
func dynamicConfig(extra map[string]any) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// New search attributes are visible at once instead of after the
		// cache refresh interval (we add them right after start).
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		dynamicconfig.ForceNexusEndpointRefreshOnRead.Key():         true,
		// Bypassing that cache costs persistence reads; raise the limits.
		dynamicconfig.FrontendPersistenceMaxQPS.Key(): 10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key():  45000,
		// The UI polls visibility a lot; the default (10 rps) throttles it.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		// Already on by default in 1.32; pinned so an upgrade cannot turn
		// off features mlpipe relies on (updates, schedules, batch ops).
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,
		dynamicconfig.FrontendEnableSchedules.Key():                            true,
		dynamicconfig.WorkerEnableScheduler.Key():                              true,
		dynamicconfig.FrontendEnableBatcher.Key():                              true,
		dynamicconfig.EnableEagerWorkflowStart.Key():                           true,
	}
	for k, v := range extra {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return dc
}

func newLogger(level, format string) (log.Logger, zap.AtomicLevel) {
	atom := zap.NewAtomicLevelAt(log.ParseZapLevel(level))
	enc := log.DefaultZapEncoderConfig
	enc.CallerKey = zapcore.OmitKey
	encoding := "json"
	if format == "console" {
		encoding = "console"
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	zl, err := zap.Config{
		Level:            atom,
		Encoding:         encoding,
		EncoderConfig:    enc,
		OutputPaths:      []string{"stderr"}, // stdout carries only the ready line
		ErrorOutputPaths: []string{"stderr"},
		DisableCaller:    true,
		// Stack traces of expected errors (e.g. during shutdown) drown the
		// useful lines; the message carries the error already.
		DisableStacktrace: true,
	}.Build()
	if err != nil {
		zl = zap.NewNop()
	}
	return log.NewZapLogger(zl), atom
}

func start(o *options) (s *devServer, err error) {
	// 1. Ports: check the user-facing ones, pick the internal ones.
	claims := []portClaim{{o.Port, "frontend gRPC", "--port"}}
	if o.HTTPPort > 0 {
		claims = append(claims, portClaim{o.HTTPPort, "frontend HTTP API", "--http-port"})
	}
	if !o.Headless {
		claims = append(claims, portClaim{o.UIPort, "Web UI", "--ui-port (or --headless)"})
	}
	if o.MetricsPort > 0 {
		claims = append(claims, portClaim{o.MetricsPort, "metrics", "--metrics-port"})
	}
	if err := checkPorts(o.IP, claims); err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, c := range claims {
		used[c.port] = true
	}
	httpPort := o.HTTPPort
	if httpPort == 0 {
		if httpPort, err = freePort(o.IP, used); err != nil {
			return nil, err
		}
	}
	internal := map[string]int{}
	for _, svc := range []string{"history", "matching", "worker"} {
		if internal[svc], err = freePort(o.IP, used); err != nil {
			return nil, err
		}
	}

	srv := &devServer{httpPort: httpPort, unlock: func() {}, fatal: make(chan error, 1)}
	defer func() {
		if err != nil {
			srv.unlock()
		}
	}()
	s = srv

	// 2. Database: lock, create schema if new, register namespaces.
	if o.DBFilename != "" {
		if o.DBFilename, err = filepath.Abs(o.DBFilename); err != nil {
			return nil, err
		}
		if err = os.MkdirAll(filepath.Dir(o.DBFilename), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the directory for --db-filename: %w", err)
		}
		srv.dbFile = o.DBFilename
		unlock, lockErr := lockDatabase(o.DBFilename)
		if lockErr != nil {
			return nil, lockErr
		}
		s.unlock = unlock
		if err = prepareDatabase(o.DBFilename); err != nil {
			return nil, err
		}
	}
	sqlConf := sqlConfig(o.DBFilename)
	if err = registerNamespaces(sqlConf, clusterName, o.Namespaces, o.SearchAttrs, o.Retention); err != nil {
		return nil, err
	}

	// 3. Server config.
	frontend := hostPort(o.IP, o.Port)
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	if o.MetricsPort > 0 {
		conf.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			ListenAddress: hostPort(o.IP, o.MetricsPort),
			HandlerPath:   "/metrics",
		}}
	}
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1 // fixed for the life of a database file
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             frontend,
			HTTPAddress:            hostPort(o.IP, httpPort),
			ClusterID:              clusterID,
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	svc := func(grpcPort, httpPort int) config.Service {
		var c config.Service
		c.RPC.GRPCPort = grpcPort
		c.RPC.HTTPPort = httpPort
		c.RPC.BindOnIP = o.IP
		return c
	}
	conf.Services = map[string]config.Service{
		"frontend": svc(o.Port, httpPort),
		"history":  svc(internal["history"], 0),
		"matching": svc(internal["matching"], 0),
		"worker":   svc(internal["worker"], 0),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontend

	logger, level := newLogger(o.LogLevel, o.LogFormat)
	s.logLevel = level
	staticHost := func(port int) static.Hosts { return static.SingleLocalHost(hostPort(o.IP, port)) }
	s.temporal, err = temporal.NewServer(
		temporal.WithConfig(&conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: staticHost(o.Port),
			primitives.HistoryService:  staticHost(internal["history"]),
			primitives.MatchingService: staticHost(internal["matching"]),
			primitives.WorkerService:   staticHost(internal["worker"]),
		}),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
		temporal.WithDynamicConfigClient(dynamicConfig(o.DynamicConfig)),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create the Temporal server: %w", err)
	}

	// 4. Start the server, then the UI, then register what the engine needs.
	if err = s.temporal.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the Temporal server: %w", err)
	}
	stopOnErr := func() { s.stop(o.ShutdownTimeout) }
	if err = bootstrap(frontend, o); err != nil {
		stopOnErr()
		return nil, err
	}
	if !o.Headless {
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                o.IP,
			Port:                o.UIPort,
			TemporalGRPCAddress: frontend,
			EnableUI:            true,
			DefaultNamespace:    "default",
			CORS:                uiconfig.CORS{CookieInsecure: true}, // plain http on localhost
			HideLogs:            true,
			DisableNewsFetch:    true, // no calls to the internet
			NotifyOnNewVersion:  false,
			// Write actions on, including "Start Workflow" (people start
			// pipelines from the UI).
			DisableWriteActions:   false,
			StartWorkflowDisabled: false,
		}))
		ui := s.ui
		go func() {
			// Start blocks; it returns nil after Stop.
			if err := ui.Start(); err != nil {
				s.fatal <- fmt.Errorf("web UI failed: %w", err)
			}
		}()
		if err = waitListening(hostPort(o.IP, o.UIPort), 15*time.Second); err != nil {
			stopOnErr()
			return nil, fmt.Errorf("web UI did not come up: %w", err)
		}
	}
	return s, nil
}

// stop shuts down the UI and the server, giving up after timeout (the
// database is consistent at every commit, so an unfinished stop loses
// nothing).
func (s *devServer) stop(timeout time.Duration) {
	// Shutting down makes the server log expected warnings and errors (task
	// queues closing under pending requests); hide them unless the user
	// asked for debug/info output.
	if s.logLevel.Level() > zapcore.InfoLevel {
		s.logLevel.SetLevel(zapcore.FatalLevel)
	}
	if s.ui != nil {
		s.ui.Stop()
	}
	done := make(chan error, 1)
	go func() { done <- s.temporal.Stop() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, os.ErrClosed) {
			fmt.Fprintf(os.Stderr, "mlpipe-devserver: warning: stopping the server: %v\n", err)
		}
		if s.dbFile != "" {
			checkpoint(s.dbFile)
		}
	case <-time.After(timeout):
		fmt.Fprintf(os.Stderr, "mlpipe-devserver: warning: server did not stop within %v, exiting anyway\n", timeout)
	}
	s.unlock()
}
