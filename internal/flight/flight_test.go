package flight

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Every joined callback is called once, in order, with the outcome; Done
// waiters see the same; joining a finished flight calls nothing.
func TestFlight(t *testing.T) {
	f := New[int]()
	var order []int
	for i := range 3 {
		if !f.Join(func(v int, err error) {
			if v != 7 || err != nil {
				t.Errorf("callback %d got %d, %v", i, v, err)
			}
			order = append(order, i)
		}) {
			t.Fatal("Join on a running flight reported it over")
		}
	}
	f.Finish(7, nil)
	f.Finish(8, errors.New("late")) // ignored
	<-f.Done()
	if v, err := f.Result(); v != 7 || err != nil {
		t.Fatalf("Result = %d, %v", v, err)
	}
	if len(order) != 3 || order[0] != 0 || order[2] != 2 {
		t.Fatalf("callbacks ran as %v", order)
	}
	if f.Join(func(int, error) { t.Error("called on a finished flight") }) {
		t.Fatal("Join on a finished flight reported it running")
	}
}

// A group runs the work once for every caller that arrives meanwhile, and
// again for a caller after it ended.
func TestGroup(t *testing.T) {
	var g Group[int]
	var runs atomic.Int32
	release := make(chan struct{})
	work := func() (int, error) { runs.Add(1); <-release; return 1, nil }
	var wg sync.WaitGroup
	first := g.Do(work)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.Do(work) != first {
				t.Error("a caller got another flight")
			}
		}()
	}
	wg.Wait()
	close(release)
	<-first.Done()
	<-g.Do(work).Done()
	if n := runs.Load(); n != 2 {
		t.Fatalf("work ran %d times, want 2", n)
	}
}
