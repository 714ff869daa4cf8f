package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeFlush records the flushes of a Batcher[string, string]: it answers
// each item with its upper case, fails a flush holding "bad", and blocks
// while gate is held.
type fakeFlush struct {
	gate    sync.RWMutex
	mu      sync.Mutex
	flushes [][]string
	running atomic.Int32
	most    atomic.Int32
}

func (f *fakeFlush) flush(ctx context.Context, items []string) ([]string, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.most.Load()
		if n <= m || f.most.CompareAndSwap(m, n) {
			break
		}
	}
	f.gate.RLock()
	defer f.gate.RUnlock()
	f.mu.Lock()
	f.flushes = append(f.flushes, slices.Clone(items))
	f.mu.Unlock()
	if slices.Contains(items, "bad") {
		return nil, errors.New("bad item")
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = strings.ToUpper(it)
	}
	return out, nil
}

func (f *fakeFlush) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, fl := range f.flushes {
		out = append(out, len(fl))
	}
	return out
}

// waitQueued waits until n calls are queued.
func waitQueued[T, R any](t *testing.T, b *Batcher[T, R], n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q >= n {
			return
		}
	}
	t.Fatalf("%d calls never queued", n)
}

func TestBatcherAlone(t *testing.T) {
	f := &fakeFlush{}
	b := &Batcher[string, string]{Flush: f.flush}
	for i := range 3 {
		res, err := b.Do(t.Context(), []string{fmt.Sprint("a", i), "b"})
		if err != nil || !slices.Equal(res, []string{fmt.Sprint("A", i), "B"}) {
			t.Fatalf("Do %d: %v, %v", i, res, err)
		}
	}
	if got := f.sizes(); !slices.Equal(got, []int{2, 2, 2}) {
		t.Errorf("flush sizes %v: calls made one at a time must flush alone", got)
	}
}

// Calls that arrive while the flushes are busy share the next flush, and
// each gets its own results.
func TestBatcherMerges(t *testing.T) {
	f := &fakeFlush{}
	b := &Batcher[string, string]{Flush: f.flush, MaxFlushes: 1}
	f.gate.Lock()
	var wg sync.WaitGroup
	first := make(chan error, 1)
	wg.Go(func() {
		_, err := b.Do(t.Context(), []string{"first"})
		first <- err
	})
	for f.running.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const n = 10
	results := make([][]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = b.Do(t.Context(), []string{fmt.Sprint("x", i), fmt.Sprint("y", i)}) })
	}
	waitQueued(t, b, n)
	f.gate.Unlock()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil || !slices.Equal(results[i], []string{fmt.Sprint("X", i), fmt.Sprint("Y", i)}) {
			t.Errorf("call %d: %v, %v", i, results[i], errs[i])
		}
	}
	if got := f.sizes(); !slices.Equal(got, []int{1, 2 * n}) {
		t.Errorf("flush sizes %v, want [1 %d]", got, 2*n)
	}
}

// A merged flush that fails is redone call by call: only the bad call
// fails.
func TestBatcherFailureStaysWithItsCall(t *testing.T) {
	f := &fakeFlush{}
	b := &Batcher[string, string]{Flush: f.flush, MaxFlushes: 1}
	f.gate.Lock()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Do(t.Context(), []string{"first"}) })
	for f.running.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	calls := [][]string{{"a"}, {"b1", "bad"}, {"c"}}
	results := make([][]string, len(calls))
	errs := make([]error, len(calls))
	for i, items := range calls {
		wg.Go(func() { results[i], errs[i] = b.Do(t.Context(), items) })
		waitQueued(t, b, i+1)
	}
	f.gate.Unlock()
	wg.Wait()
	if errs[1] == nil {
		t.Error("the call with the bad item succeeded")
	}
	if errs[0] != nil || errs[2] != nil || !slices.Equal(results[0], []string{"A"}) || !slices.Equal(results[2], []string{"C"}) {
		t.Errorf("good calls: %v %v, %v %v", results[0], errs[0], results[2], errs[2])
	}
	if got := f.sizes(); !slices.Equal(got, []int{1, 4, 1, 2, 1}) {
		t.Errorf("flush sizes %v, want [1 4 1 2 1]: the merged flush, then each call alone", got)
	}
}

func TestBatcherBounds(t *testing.T) {
	f := &fakeFlush{}
	b := &Batcher[string, string]{Flush: f.flush, MaxFlushes: 2, MaxItems: 5}
	f.gate.Lock()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = b.Do(t.Context(), []string{"busy"}) })
	}
	for f.running.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// Queued: 2+2+2 items (two fit a flush of 5), then 7 (alone).
	for i, n := range []int{2, 2, 2, 7} {
		wg.Go(func() {
			items := make([]string, n)
			for j := range items {
				items[j] = fmt.Sprint(i, j)
			}
			if res, err := b.Do(t.Context(), items); err != nil || len(res) != n {
				t.Errorf("call %d: %d results, %v", i, len(res), err)
			}
		})
		waitQueued(t, b, i+1)
	}
	f.gate.Unlock()
	wg.Wait()
	if m := f.most.Load(); m > 2 {
		t.Errorf("%d flushes at once, want at most 2", m)
	}
	got := f.sizes()
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 1, 2, 4, 7}) {
		t.Errorf("flush sizes %v, want 1, 1 (busy), 4, 2 (merged up to 5 items) and 7 (alone)", got)
	}
	// The last flush hands back its slot just after answering its calls.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		flushing, queued := b.flushing, len(b.queue)
		b.mu.Unlock()
		if flushing == 0 && queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle batcher: %d flushing, %d queued", flushing, queued)
		}
	}
}

// A call whose context ends while it waits returns at once, and is not
// flushed if it had not been taken.
func TestBatcherCancelledWhileQueued(t *testing.T) {
	f := &fakeFlush{}
	b := &Batcher[string, string]{Flush: f.flush, MaxFlushes: 1}
	f.gate.Lock()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Do(t.Context(), []string{"first"}) })
	for f.running.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := b.Do(ctx, []string{"gone"})
		done <- err
	}()
	waitQueued(t, b, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v, want context.Canceled", err)
	}
	f.gate.Unlock()
	wg.Wait()
	res, err := b.Do(t.Context(), []string{"after"})
	if err != nil || !slices.Equal(res, []string{"AFTER"}) {
		t.Fatalf("Do after a cancelled call: %v, %v", res, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.flushes {
		if slices.Contains(fl, "gone") {
			t.Errorf("the cancelled call was flushed: %v", f.flushes)
		}
	}
}
