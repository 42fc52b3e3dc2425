package web

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzDashboardForm feeds the dashboard's form whatever may be typed or
// put in its URL: it never panics, and a form it accepts names 1 to
// maxMonths whole months, first to last, and a practice code of letters and
// digits.
func FuzzDashboardForm(f *testing.F) {
	for _, s := range [][3]string{{"2025-11", "2026-10", ""}, {"2026-13", "2026-01", "F84012"}, {"", "", "../x"}, {"0000-01", "9999-12", "Z"}, {"2026-1", "２０２６-01", "F84012\n"}} {
		f.Add(s[0], s[1], s[2])
	}
	a := &App{cfg: Config{Now: func() time.Time { return time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC) }}}
	f.Fuzz(func(t *testing.T, start, end, ods string) {
		r := httptest.NewRequest("GET", "/app/dashboard?"+url.Values{"start": {start}, "end": {end}, "ods": {ods}}.Encode(), nil)
		q, errs := a.dashboardForm(r)
		if len(errs) > 0 {
			return
		}
		if q.months < 1 || q.months > maxMonths || q.to.Before(q.from) {
			t.Errorf("accepted %q to %q: %d months, %s to %s", start, end, q.months, q.from, q.to)
		}
		if q.ODS != "" && !odsPattern.MatchString(q.ODS) {
			t.Errorf("accepted the practice %q", q.ODS)
		}
	})
}
