package store

import "database/sql"

// SQL returns the store's connection pool, for tools that measure the store
// against bare SQL on the same database (cmd/tmfbench). Platform code goes
// through the store's methods, never through this.
func (s *Store) SQL() *sql.DB { return s.sqlDB }
