package redistest_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/passhub/passhub/adapters/queue/redistest"
)

func TestNewRedisGivesEachTestItsOwnEmptyDB(t *testing.T) {
	ctx := context.Background()
	a, b := redistest.NewRedis(t), redistest.NewRedis(t)
	if a.DB == b.DB {
		t.Fatalf("both got database %d", a.DB)
	}
	for _, opt := range []int{a.DB, b.DB} {
		if opt < 1 || opt > 15 {
			t.Errorf("database %d outside 1..15", opt)
		}
	}
	ca := redis.NewClient(&redis.Options{Addr: a.Addr, Password: a.Password, DB: a.DB})
	defer ca.Close()
	if n, err := ca.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("fresh database holds %d keys (%v)", n, err)
	}
	if err := ca.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cb := redis.NewClient(&redis.Options{Addr: b.Addr, Password: b.Password, DB: b.DB})
	defer cb.Close()
	if n, _ := cb.Exists(ctx, "k").Result(); n != 0 {
		t.Error("a key set in one test's database is visible in another's")
	}
}

func TestURLRoundTrips(t *testing.T) {
	opt := redistest.NewRedis(t)
	o, err := redis.ParseURL(redistest.URL(opt))
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != opt.Addr || o.DB != opt.DB || o.Password != opt.Password {
		t.Errorf("URL %s parses to %s db %d", redistest.URL(opt), o.Addr, o.DB)
	}
}
