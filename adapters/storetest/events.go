package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

var eventCases = []testCase{
	{"Event/ListNewestFirst", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		otherTpl := mustTemplate(t, s, other.ID)
		base := now().Add(-time.Hour)
		types := []core.EventType{core.EventUpdated, core.EventInstalled, core.EventExpired}
		var written []core.Event // oldest first
		for i := range 5 {
			p, ev := mustPass(t, s, ws.ID, tpl.ID, "e"+string(rune('a'+i)))
			written = append(written, ev)
			for j := range 4 {
				at := base.Add(time.Duration(i*4+j) * time.Minute)
				_, err := s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
					q.Version++
					q.UpdatedAt = at
					ev := core.NewEvent(types[(i+j)%3], q, at)
					written = append(written, ev)
					return []core.Event{ev}, nil
				})
				must(t, "UpdatePass", err)
			}
			mustPass(t, s, other.ID, otherTpl.ID, "o"+string(rune('a'+i)))
		}
		newestFirst := slices.Clone(written)
		slices.Reverse(newestFirst)

		cutoff := base.Add(9*time.Minute + 500*time.Microsecond)
		filters := []struct {
			name string
			q    core.EventQuery
			keep func(core.Event) bool
		}{
			{"all", core.EventQuery{}, func(core.Event) bool { return true }},
			{"type", core.EventQuery{Type: core.EventInstalled}, func(e core.Event) bool { return e.Type == core.EventInstalled }},
			{"since", core.EventQuery{Since: cutoff}, func(e core.Event) bool { return !us(e.OccurredAt).Before(us(cutoff)) }},
			{"type and since", core.EventQuery{Type: core.EventExpired, Since: cutoff}, func(e core.Event) bool {
				return e.Type == core.EventExpired && !us(e.OccurredAt).Before(us(cutoff))
			}},
			{"none", core.EventQuery{Type: core.EventVoided}, func(core.Event) bool { return false }},
		}
		for _, f := range filters {
			var want []string
			for _, ev := range newestFirst {
				if f.keep(ev) {
					want = append(want, ev.ID)
				}
			}
			for _, limit := range []int{1, 4, 1000} {
				q := f.q
				q.Limit = limit
				var got []string
				var lastSeq int64
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatalf("%s: cursor walk does not end", f.name)
					}
					list, next, err := s.ListEvents(ctx, ws.ID, q)
					must(t, "ListEvents "+f.name, err)
					if len(list) > limit {
						t.Fatalf("%s: page of %d, limit %d", f.name, len(list), limit)
					}
					for _, ev := range list {
						if lastSeq != 0 && ev.Seq >= lastSeq {
							t.Fatalf("%s: seq %d after %d, want descending", f.name, ev.Seq, lastSeq)
						}
						lastSeq = ev.Seq
						got = append(got, ev.ID)
					}
					if next == "" {
						break
					}
					q.Cursor = next
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s/limit %d: got %v, want %v", f.name, limit, got, want)
				}
			}
		}

		list, _, err := s.ListEvents(ctx, ws.ID, core.EventQuery{Page: core.Page{Limit: 1}})
		must(t, "ListEvents", err)
		sameEvent(t, list[0], newestFirst[0])
		got, err := s.Event(ctx, ws.ID, written[0].ID)
		must(t, "Event", err)
		sameEvent(t, got, written[0])
		_, err = s.Event(ctx, ws.ID, core.NewID(core.PrefixEvent))
		wantErr(t, "Event missing", err, core.ErrNotFound)
		_, _, err = s.ListEvents(ctx, ws.ID, core.EventQuery{Page: core.Page{Cursor: "??"}})
		wantErr(t, "ListEvents with a bad cursor", err, core.ErrInvalid)
	}},
}
