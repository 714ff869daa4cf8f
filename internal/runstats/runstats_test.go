package runstats

import "testing"

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want Spread
	}{
		{nil, Spread{}},
		{[]float64{3}, Spread{3, 3, 3}},
		{[]float64{5, 1, 3}, Spread{3, 1, 5}},
		{[]float64{4, 1, 2, 10}, Spread{3, 1, 10}},
	} {
		in := append([]float64(nil), tc.xs...)
		if got := Of(tc.xs); got != tc.want {
			t.Errorf("Of(%v) = %+v, want %+v", in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.xs[i] {
				t.Errorf("Of reordered its input: %v", tc.xs)
			}
		}
	}
}

func TestSpreadString(t *testing.T) {
	if got := (Spread{Median: 3, Min: 1, Max: 10.25}).String(); got != "3.0 (1.0–10.2)" {
		t.Errorf("String = %q", got)
	}
}
