package dbutil_test

import (
	"testing"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// entry has an auto-increment key and a unique key, like the domains'
// ledgers: the case where MariaDB's RETURNING once made a duplicate look
// inserted.
type entry struct {
	ID  int64  `gorm:"primaryKey;autoIncrement"`
	Key string `gorm:"size:64;not null;uniqueIndex:uix_tmf_dbutil_entries_key"`
}

func (entry) TableName() string { return "tmf_dbutil_entries" }

func TestInsertOnceTellsDuplicates(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		if err := s.MigrateModels(ctx, &entry{}); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false, false} {
			got, err := dbutil.InsertOnce(s.DB(ctx), &entry{Key: "k"})
			if err != nil || got != want {
				t.Fatalf("insert %d: inserted = %v, %v; want %v", i+1, got, err, want)
			}
		}
		var n int64
		if err := s.DB(ctx).Model(&entry{}).Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("rows = %d, %v; want 1", n, err)
		}
	})
}
