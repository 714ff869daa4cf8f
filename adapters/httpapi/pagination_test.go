package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

func TestPassPagination(t *testing.T) {
	e := newEnv(t)
	tplA, tplB := e.template(e.admin, "a"), e.template(e.admin, "b")
	want := map[string][]string{} // query -> pass IDs in creation order
	var all []string
	for i := range 37 {
		tpl, lc := tplA, "active"
		if i%3 == 0 {
			tpl = tplB
		}
		if i%4 == 0 {
			lc = "voided"
		}
		p := e.pass(e.editor, map[string]any{"templateId": tpl, "externalId": fmt.Sprintf("ext-%02d", i), "lifecycle": lc})
		all = append(all, p.ID)
		want["templateId="+tpl] = append(want["templateId="+tpl], p.ID)
		want["lifecycle="+lc] = append(want["lifecycle="+lc], p.ID)
		if tpl == tplA && lc == "voided" {
			want["templateId="+tpl+"&lifecycle=voided"] = append(want["templateId="+tpl+"&lifecycle=voided"], p.ID)
		}
	}
	want[""] = all
	want["walletStatus=none"] = all
	want["updatedSince="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))] = all
	want["updatedSince=2999-01-01T00:00:00Z"] = nil
	want["walletStatus=apple"] = nil

	// walk follows nextCursor to the end and returns the IDs seen.
	walk := func(t *testing.T, query string, limit int) []string {
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			path := fmt.Sprintf("/v1/passes?limit=%d&%s", limit, query)
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			var page struct {
				Data       []core.Pass
				NextCursor *string
			}
			e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, &page)
			if len(page.Data) > limit {
				t.Fatalf("page of %d, limit %d", len(page.Data), limit)
			}
			for _, p := range page.Data {
				ids = append(ids, p.ID)
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				return ids
			}
			cursor = *page.NextCursor
		}
	}
	for query, ids := range want {
		for _, limit := range []int{1, 7, 37, 1000} {
			t.Run(fmt.Sprintf("%s limit %d", query, limit), func(t *testing.T) {
				got := walk(t, query, limit)
				if !slices.Equal(got, ids) {
					t.Fatalf("walk saw %d passes %v, want each of %d exactly once in creation order %v", len(got), got, len(ids), ids)
				}
				if again := walk(t, query, limit); !slices.Equal(again, got) {
					t.Fatalf("a second walk differs")
				}
			})
		}
	}
	t.Run("the default page is 50", func(t *testing.T) {
		for range 20 {
			e.pass(e.editor, map[string]any{"templateId": tplA})
		}
		var page struct {
			Data       []core.Pass
			NextCursor string
		}
		e.ok(req{Method: "GET", Path: "/v1/passes", Key: e.viewer}, http.StatusOK, &page)
		if len(page.Data) != DefaultLimit || page.NextCursor == "" {
			t.Fatalf("default page: %d passes, next %q", len(page.Data), page.NextCursor)
		}
	})
}
