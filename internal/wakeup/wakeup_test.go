package wakeup

import (
	"testing"
	"time"
)

func TestSetNext(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var s set
	if _, ok := s.next(t0, t0); ok {
		t.Fatal("an empty set knows a deadline")
	}
	s.note(at(300))
	s.note(at(100))
	s.note(at(200))
	if d, ok := s.next(t0, t0); !ok || d != 100*time.Millisecond {
		t.Fatalf("soonest: %v %v", d, ok)
	}
	// Due, but the scheduler has not run since: 0, call again now.
	if d, ok := s.next(t0, at(150)); !ok || d != 0 {
		t.Fatalf("due: %v %v", d, ok)
	}
	// The scheduler ran after it: dropped.
	if d, ok := s.next(at(150), at(150)); !ok || d != 50*time.Millisecond {
		t.Fatalf("after the first fired: %v %v", d, ok)
	}
	if _, ok := s.next(at(300), at(300)); ok {
		t.Fatal("every deadline passed, yet one is known")
	}
	s.note(at(500))
	s.reset()
	if _, ok := s.next(t0, t0); ok {
		t.Fatal("reset kept a deadline")
	}
}

// TestSetCapacity: at capacity the soonest deadlines are kept; once they
// have passed, the guest polls until the latest discarded one has too.
func TestSetCapacity(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var s set
	for i := capacity + 10; i > 0; i-- {
		s.note(at(1000 + i))
	}
	s.note(at(5000)) // later than every kept one: discarded
	if len(s.at) != capacity || !s.at[0].Equal(at(1001)) || !s.at[capacity-1].Equal(at(1000+capacity)) {
		t.Fatalf("kept %d, from %v to %v", len(s.at), s.at[0].Sub(t0), s.at[len(s.at)-1].Sub(t0))
	}
	now := at(1000 + capacity)
	if d, ok := s.next(now, now); !ok || d != lostPoll {
		t.Fatalf("after the kept ones: %v %v, want the poll", d, ok)
	}
	if d, ok := s.next(at(4995), at(4995)); !ok || d != 5*time.Millisecond {
		t.Fatalf("near the discarded one: %v %v", d, ok)
	}
	if _, ok := s.next(at(5000), at(5000)); ok {
		t.Fatal("everything passed, yet a deadline is known")
	}
}

// TestNativeNoop: off wasip1 nothing is kept.
func TestNativeNoop(t *testing.T) {
	Note(time.Millisecond)
	if _, ok := Next(time.Time{}, time.Now()); ok {
		t.Fatal("a native build knows a deadline")
	}
}
