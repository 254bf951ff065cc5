package web

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// tzCookie holds the reader's time zone, an IANA name that app.js reads from
// Intl.DateTimeFormat and the server checks with time.LoadLocation. Without it
// (no JavaScript yet, or none at all) times are in UTC, and the page says so once.
const tzCookie = "tz"

// zones caches the locations readers' cookies have named: loading one reads
// the zone database. Only names LoadLocation accepted are kept, so the cache
// is bounded by the database's few hundred zones.
var zones sync.Map // string → *time.Location

// readerZone is the time zone the request's tz cookie names, or nil when it
// names none (absent, malformed or unknown).
func readerZone(r *http.Request) *time.Location {
	c, err := r.Cookie(tzCookie)
	if err != nil {
		return nil
	}
	name, err := url.QueryUnescape(c.Value)
	if err != nil || name == "" || len(name) > 64 || name == "Local" {
		return nil
	}
	for _, ch := range name {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '/' || ch == '_' || ch == '-' || ch == '+') {
			return nil
		}
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zones.Store(name, l)
	return l
}

// zone is where the page's times are said: the reader's zone, else UTC.
func (p *page) zone() *time.Location {
	if p.tz == nil {
		return time.UTC
	}
	return p.tz
}

// When says t as a person reads it in the page's language and the reader's
// time zone, to the minute ("3 March 2026, 14:05"); "" for the zero time.
func (p *page) When(t time.Time) string { return p.when(t, "15:04") }

// WhenSeconds is When to the second, for the audit: events a second apart
// must read apart.
func (p *page) WhenSeconds(t time.Time) string { return p.when(t, "15:04:05") }

func (p *page) when(t time.Time, clock string) string {
	if t.IsZero() {
		return ""
	}
	p.timesShown = true
	t = t.In(p.zone())
	return p.T("time.datetime", "Date", p.day(t), "Time", t.Format(clock))
}

// Clock says the time of day of t alone ("14:05") in the reader's zone, for
// a moment within the hour.
func (p *page) Clock(t time.Time) string {
	p.timesShown = true
	return t.In(p.zone()).Format("15:04")
}

// Day says the date of t alone ("3 March 2026") in the reader's zone.
func (p *page) Day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	p.timesShown = true
	return p.day(t.In(p.zone()))
}

func (p *page) day(t time.Time) string {
	return p.T("time.date", "Day", t.Day(), "Month", p.T("time.month."+strconv.Itoa(int(t.Month()))),
		"MonthNumber", int(t.Month()), "Year", t.Year())
}

// ShowsTimes reports whether the page has said a time, and so ends with
// ZoneNote.
func (p *page) ShowsTimes() bool { return p.timesShown }

// ZoneNote says once, under the page's times, which zone they are in.
func (p *page) ZoneNote() string {
	if p.tz == nil || p.tz == time.UTC {
		return p.T("time.zone_utc")
	}
	return p.T("time.zone", "Zone", p.tz.String())
}
