package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

func TestRecentRemembersAnswersForItsTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	r := core.NewRecent[string, int](time.Second, func() time.Time { return now })
	reads := 0
	answer, answerErr := 1, error(nil)
	load := func(context.Context) (int, error) { reads++; return answer, answerErr }
	get := func() (int, error) { return r.Get(t.Context(), "ws", load) }

	steps := []struct {
		name      string
		advance   time.Duration
		change    func()
		want      int
		wantErr   error
		wantReads int
	}{
		{"first read loads", 0, nil, 1, nil, 1},
		{"within the TTL the answer is kept", 999 * time.Millisecond, func() { answer = 2 }, 1, nil, 1},
		{"at the TTL it reads again", time.Millisecond, nil, 2, nil, 2},
		{"not found is an answer too", time.Second, func() { answerErr = core.ErrNotFound }, 2, core.ErrNotFound, 3},
		{"kept", 0, func() { answerErr = nil }, 2, core.ErrNotFound, 3},
		{"Forget reads again at once", 0, func() { r.Forget("ws") }, 2, nil, 4},
		{"a failure is not kept", time.Second, func() { answerErr = errors.New("store down") }, 2, errors.New("store down"), 5},
		{"the next read tries again", 0, func() { answerErr = nil; answer = 3 }, 3, nil, 6},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.change != nil {
			s.change()
		}
		got, err := get()
		if got != s.want || (err == nil) != (s.wantErr == nil) || (err != nil && err.Error() != s.wantErr.Error()) || reads != s.wantReads {
			t.Errorf("%s: got %d, %v after %d reads; want %d, %v after %d", s.name, got, err, reads, s.want, s.wantErr, s.wantReads)
		}
	}
}
