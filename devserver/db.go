package main

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"

	"google.golang.org/protobuf/types/known/durationpb"

	// The driver Temporal's sqlite plugin uses (pure Go, registered as "sqlite").
	_ "modernc.org/sqlite"
)

// Tables that must exist in a database we set up. executions_visibility is
// created by the last schema file, namespaces by the first.
var requiredTables = []string{"namespaces", "executions", "history_node", "cluster_metadata_info", "executions_visibility"}

// sqlConfig is the persistence config handed to the server.
//
// File-backed databases run in WAL mode with synchronous=NORMAL: every commit
// is an append to the WAL without an fsync of the main file, which is ~10x
// faster than the default rollback journal and still survives a crash of the
// process (kill -9). Only a power loss can drop the last few commits.
func sqlConfig(dbFile string) *config.SQL {
	if dbFile == "" {
		return &config.SQL{
			PluginName: sqliteplugin.PluginName,
			// The plugin creates the schema itself for in-memory databases.
			ConnectAttributes: map[string]string{"mode": "memory", "cache": "shared"},
			DatabaseName:      "mlpipe-" + strconv.Itoa(rand.IntN(1<<30)),
		}
	}
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: dbFile,
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "normal",
			"busy_timeout": "10000",
		},
		// The plugin shares one connection among all services; more than one
		// would let two writers race for SQLite's single write lock.
		MaxConns:     1,
		MaxIdleConns: 1,
	}
}

// prepareDatabase makes sure dbFile holds Temporal's schema. A new database
// is built under a temporary name and renamed into place once the whole
// schema is in, so a start that dies half-way never leaves a database that
// looks set up but is not. An existing database is used as is.
func prepareDatabase(dbFile string) error {
	st, err := os.Stat(dbFile)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("--db-filename %s is a directory", dbFile)
	case err == nil && st.Size() > 0:
		return checkSchema(dbFile)
	case err == nil || errors.Is(err, os.ErrNotExist):
		return createDatabase(dbFile)
	default:
		return fmt.Errorf("cannot use --db-filename %s: %w", dbFile, err)
	}
}

func openSQLite(file string, attrs url.Values) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+file+"?"+attrs.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// checkSchema verifies an existing database file was set up by us (or by the
// Temporal CLI, which uses the same schema).
func checkSchema(dbFile string) error {
	db, err := openSQLite(dbFile, url.Values{"mode": {"rw"}, "_pragma": {"busy_timeout=10000"}})
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", dbFile, err)
	}
	defer func() { _ = db.Close() }()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return fmt.Errorf("cannot read %s (not an SQLite database?): %w", dbFile, err)
	}
	defer func() { _ = rows.Close() }()
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("cannot read %s: %w", dbFile, err)
		}
		tables[name] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read %s: %w", dbFile, err)
	}
	for _, t := range requiredTables {
		if !tables[t] {
			return fmt.Errorf("%s exists but is not a Temporal database (table %s is missing); "+
				"move it away or choose another --db-filename", dbFile, t)
		}
	}
	return nil
}

// execOnly satisfies sqlplugin.AdminDB for Temporal's schema loader, which
// only ever calls Exec. Going through our own connection (rather than the
// plugin's process-wide pool, which never closes connections) lets us close
// the temporary file before renaming it.
type execOnly struct {
	sqlplugin.AdminDB
	db *sql.DB
}

func (e execOnly) Exec(stmt string, args ...any) error {
	_, err := e.db.Exec(stmt, args...)
	return err
}

func createDatabase(dbFile string) error {
	// Leftovers of a setup that died (we hold the database lock, so no other
	// process is setting up right now).
	if stale, _ := filepath.Glob(dbFile + ".setup-*"); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	tmp := fmt.Sprintf("%s.setup-%d", dbFile, os.Getpid())
	cleanup := func() {
		for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
			_ = os.Remove(tmp + suffix)
		}
	}
	db, err := openSQLite(tmp, url.Values{"mode": {"rwc"}, "_pragma": {"journal_mode=wal", "synchronous=full"}})
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", tmp, err)
	}
	if err := sqliteschema.SetupSchemaOnDB(execOnly{db: db}); err != nil {
		_ = db.Close()
		cleanup()
		return fmt.Errorf("cannot create the Temporal schema in %s: %w", dbFile, err)
	}
	// Fold the WAL into the main file so the rename below moves everything.
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		_ = db.Close()
		cleanup()
		return fmt.Errorf("cannot checkpoint %s: %w", tmp, err)
	}
	if err := db.Close(); err != nil {
		cleanup()
		return fmt.Errorf("cannot close %s: %w", tmp, err)
	}
	// Stale -wal/-shm next to an empty or missing target would be replayed
	// into the new file; remove them first.
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		_ = os.Remove(dbFile + suffix)
	}
	if err := os.Rename(tmp, dbFile); err != nil {
		cleanup()
		return fmt.Errorf("cannot move the new database into place at %s: %w", dbFile, err)
	}
	cleanup()
	return nil
}

// registerNamespaces writes the namespaces straight into the database before
// the server starts (Temporal's own bootstrap path for SQLite). Namespaces
// that already exist are left alone; search attributes for those are added
// through the operator API once the server runs (see bootstrap.go).
func registerNamespaces(cfg *config.SQL, clusterName string, names []string,
	searchAttrs map[string]enumspb.IndexedValueType, retention time.Duration) error {
	nsConfigs := make([]*sqliteschema.NamespaceConfig, 0, len(names))
	for _, name := range names {
		nc, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, searchAttrs)
		if err != nil {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		nc.Detail.Config.Retention = durationpb.New(retention)
		nsConfigs = append(nsConfigs, nc)
	}
	if err := sqliteschema.CreateNamespaces(cfg, nsConfigs...); err != nil {
		return fmt.Errorf("cannot register namespaces: %w", err)
	}
	return nil
}

// checkpoint folds the WAL back into the main file after a clean stop, so the
// .db file alone is a complete copy. Best effort: the WAL is replayed on the
// next start anyway.
func checkpoint(dbFile string) {
	db, err := openSQLite(dbFile, url.Values{"mode": {"rw"}, "_pragma": {"busy_timeout=2000"}})
	if err != nil {
		return
	}
	defer func() { _ = db.Close() }()
	_, _ = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
}
