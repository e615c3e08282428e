package payment_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// migrate creates the domain's tables in s.
func migrate(t *testing.T, s *store.Store) {
	t.Helper()
	if err := s.MigrateModels(context.Background(), payment.Models()...); err != nil {
		t.Fatal(err)
	}
}

// as returns err as a T, failing the test when it is not one.
func as[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T), want a %T", err, err, target)
	}
	return target
}

func balance(t *testing.T, s *store.Store, orderID string) payment.Balance {
	t.Helper()
	b, err := payment.OrderBalance(context.Background(), s.DB(context.Background()), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func card(number string) payment.Card { return payment.Card{Number: number} }

// sandbox returns a sandbox over a fresh SQLite database of its own.
func sandbox(t *testing.T) *payment.Sandbox {
	t.Helper()
	s := storetest.Open(t, "sqlite")
	migrate(t, s)
	return payment.NewSandbox(s.DB(context.Background()))
}
