package storetest

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// The insights cases: install insights computed by the service on the
// store agree with counts made here, independently, from the listed
// events that the real wallet paths recorded.

// expectInstalls counts the events into the buckets of q, as the API
// promises: per bucket, installs and uninstalls per platform, and the
// active installs at the bucket's end from every event before it.
func expectInstalls(events []core.Event, got core.InstallInsights, templateID string) []core.InstallBucket {
	want := make([]core.InstallBucket, len(got.Buckets))
	width := got.Buckets[0].End.Sub(got.Buckets[0].Start)
	for i := range want {
		start := got.From.Add(time.Duration(i) * width)
		b := core.InstallBucket{Start: start, End: start.Add(width)}
		for _, ev := range events {
			if templateID != "" && ev.Data.TemplateID != templateID {
				continue
			}
			var c *core.InstallCounts
			var active *int64
			switch ev.Data.Platform {
			case core.PlatformApple:
				c, active = &b.Apple, &b.ActiveInstalls.Apple
			case core.PlatformGoogle:
				c, active = &b.Google, &b.ActiveInstalls.Google
			default:
				continue
			}
			in := !ev.OccurredAt.Before(b.Start) && ev.OccurredAt.Before(b.End)
			before := ev.OccurredAt.Before(b.End)
			switch ev.Type {
			case core.EventInstalled:
				if in {
					c.Installs++
				}
				if before {
					*active++
				}
			case core.EventUninstalled:
				if in {
					c.Uninstalls++
				}
				if before {
					*active--
				}
			}
		}
		b.ActiveInstalls.Total = b.ActiveInstalls.Apple + b.ActiveInstalls.Google
		want[i] = b
	}
	return want
}

var insightCases = []testCase{
	{"Insights/InstallsMatchEvents", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc, ws, tplA := serviceFixture(t, s)
		tplB, err := svc.CreateTemplate(ctx, ws.ID, newTemplate("", "Tickets"))
		must(t, "CreateTemplate", err)
		otherSvc, other, otherTpl := serviceFixture(t, s)
		passes := append(createPasses(t, svc, ws.ID, tplA.ID, "a", 5), createPasses(t, svc, ws.ID, tplB.ID, "b", 3)...)
		others := createPasses(t, otherSvc, other.ID, otherTpl.ID, "x", 2)

		// Three days of installs and uninstalls through the wallet paths,
		// starting at a UTC midnight; times step by whole half hours now
		// and then, so events fall exactly on bucket edges too.
		day0 := now().Truncate(24 * time.Hour).Add(-5 * 24 * time.Hour)
		w := newWalletDriver(t, s)
		rng := rand.New(rand.NewPCG(7, 11))
		installed := map[string]bool{}
		at := day0.Add(-3 * time.Hour) // some history before every query
		steps := 0
		for at.Before(day0.Add(3 * 24 * time.Hour)) {
			p := passes[rng.IntN(len(passes))]
			platform := []core.Platform{core.PlatformApple, core.PlatformGoogle}[rng.IntN(2)]
			key := p.ID + string(platform)
			installed[key] = !installed[key]
			w.set(ws.ID, p.ID, platform, installed[key], at)
			steps++
			if rng.IntN(4) == 0 {
				at = at.Truncate(30 * time.Minute).Add(30 * time.Minute)
			} else {
				at = at.Add(time.Duration(rng.IntN(90)+1) * time.Minute).Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
			}
		}
		w.set(other.ID, others[0].ID, core.PlatformApple, true, day0.Add(time.Hour))
		w.set(other.ID, others[1].ID, core.PlatformGoogle, true, day0.Add(-time.Hour))

		events := allEvents(t, s, ws.ID, core.EventQuery{})
		wallet := 0
		for _, ev := range events {
			if ev.Type == core.EventInstalled || ev.Type == core.EventUninstalled {
				wallet++
			}
		}
		if wallet != steps {
			t.Fatalf("fixture: %d wallet events listed, %d wallet changes made", wallet, steps)
		}

		queries := []struct {
			name     string
			q        core.InstallsQuery
			from, to time.Time
		}{
			{"hours of day 1", core.InstallsQuery{From: day0.Add(24 * time.Hour), To: day0.Add(48 * time.Hour), Interval: core.IntervalHour},
				day0.Add(24 * time.Hour), day0.Add(48 * time.Hour)},
			{"days", core.InstallsQuery{From: day0, To: day0.Add(4 * 24 * time.Hour), Interval: core.IntervalDay},
				day0, day0.Add(4 * 24 * time.Hour)},
			{"days of template B", core.InstallsQuery{From: day0, To: day0.Add(3 * 24 * time.Hour), Interval: core.IntervalDay, TemplateID: tplB.ID},
				day0, day0.Add(3 * 24 * time.Hour)},
			{"unaligned bounds widen to whole hours", core.InstallsQuery{From: day0.Add(90*time.Minute + time.Microsecond), To: day0.Add(5*time.Hour + time.Second), Interval: core.IntervalHour},
				day0.Add(time.Hour), day0.Add(6 * time.Hour)},
			{"a sliver of one hour", core.InstallsQuery{From: day0.Add(30 * time.Minute), To: day0.Add(31 * time.Minute), Interval: core.IntervalHour},
				day0, day0.Add(time.Hour)},
			{"an unknown template", core.InstallsQuery{From: day0, To: day0.Add(24 * time.Hour), Interval: core.IntervalDay, TemplateID: "tpl_none"},
				day0, day0.Add(24 * time.Hour)},
		}
		for _, c := range queries {
			got, err := svc.InstallInsights(ctx, ws.ID, c.q)
			must(t, c.name, err)
			if !got.From.Equal(c.from) || !got.To.Equal(c.to) || got.Interval != c.q.Interval || got.TemplateID != c.q.TemplateID {
				t.Errorf("%s: answered from %s to %s by %s for %q, want from %s to %s", c.name, got.From, got.To, got.Interval, got.TemplateID, c.from, c.to)
			}
			if n := int(c.to.Sub(c.from) / c.q.Interval.Duration()); len(got.Buckets) != n {
				t.Fatalf("%s: %d buckets, want %d", c.name, len(got.Buckets), n)
			}
			sameJSON(t, c.name, got.Buckets, expectInstalls(events, got, c.q.TemplateID))
		}

		// Counted at all: the fixture's buckets are not all empty.
		got, err := svc.InstallInsights(ctx, ws.ID, core.InstallsQuery{From: day0, To: day0.Add(3 * 24 * time.Hour), Interval: core.IntervalDay})
		must(t, "InstallInsights", err)
		var apple, google int64
		for _, b := range got.Buckets {
			apple += b.Apple.Installs + b.Apple.Uninstalls
			google += b.Google.Installs + b.Google.Uninstalls
		}
		if apple == 0 || google == 0 || got.Buckets[0].ActiveInstalls.Total == 0 {
			t.Errorf("fixture: apple %d and google %d events, %d installed after day 0", apple, google, got.Buckets[0].ActiveInstalls.Total)
		}

		// Another workspace sees its own events only.
		got, err = otherSvc.InstallInsights(ctx, other.ID, core.InstallsQuery{From: day0, To: day0.Add(24 * time.Hour), Interval: core.IntervalHour})
		must(t, "InstallInsights of the other workspace", err)
		sameJSON(t, "the other workspace", got.Buckets, expectInstalls(allEvents(t, s, other.ID, core.EventQuery{}), got, ""))
		if b := got.Buckets[23]; b.ActiveInstalls.Apple != 1 || b.ActiveInstalls.Google != 1 {
			t.Errorf("other workspace at the end of day 0: %+v, want one pass in each wallet", b.ActiveInstalls)
		}
	}},
	{"Insights/RefusesBadQueries", func(t *testing.T, s Store) {
		svc, ws, _ := serviceFixture(t, s)
		day := time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC)
		cases := []struct {
			name  string
			q     core.InstallsQuery
			field string
		}{
			{"no interval", core.InstallsQuery{From: day, To: day.Add(time.Hour)}, "interval"},
			{"unknown interval", core.InstallsQuery{From: day, To: day.Add(time.Hour), Interval: "week"}, "interval"},
			{"no from", core.InstallsQuery{To: day, Interval: core.IntervalHour}, "from"},
			{"no to", core.InstallsQuery{From: day, Interval: core.IntervalHour}, "to"},
			{"to before from", core.InstallsQuery{From: day, To: day.Add(-time.Hour), Interval: core.IntervalHour}, "to"},
			{"to equal to from", core.InstallsQuery{From: day, To: day, Interval: core.IntervalDay}, "to"},
			{"1001 hours", core.InstallsQuery{From: day, To: day.Add(1001 * time.Hour), Interval: core.IntervalHour}, "to"},
			{"1000 hours and a bit", core.InstallsQuery{From: day, To: day.Add(1000*time.Hour + time.Microsecond), Interval: core.IntervalHour}, "to"},
		}
		for _, c := range cases {
			_, err := svc.InstallInsights(t.Context(), ws.ID, c.q)
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("%s: error %v, want a field error on %s", c.name, err, c.field)
			}
		}
		got, err := svc.InstallInsights(t.Context(), ws.ID, core.InstallsQuery{From: day, To: day.Add(1000 * time.Hour), Interval: core.IntervalHour})
		must(t, "1000 hours", err)
		if len(got.Buckets) != 1000 || got.Buckets[999].ActiveInstalls.Total != 0 {
			t.Errorf("1000 hours of nothing: %d buckets, last %+v", len(got.Buckets), got.Buckets[len(got.Buckets)-1])
		}
	}},
}
