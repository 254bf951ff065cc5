package main

import (
	"strings"
	"testing"
)

// FuzzConfig gives every setting arbitrary values: start-up either accepts
// them or stops with one line naming the setting.
func FuzzConfig(f *testing.F) {
	for i, s := range settings {
		for _, v := range []string{"", "0", "-1", "1h", "x", "true", "127.0.0.1:8080", "https://a.example", "smtp://u:p@h:25",
			"postgres://x", "sqlite:/tmp/x.db", "FR,JP", "10.0.0.0/8", "3.1.0", "\x00", "99999999999999999999"} {
			f.Add(uint8(i), v)
		}
		_ = s
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		s := settings[int(which)%len(settings)]
		_, err := parseConfig(map[string]source{s.name: {value, envName(s.name)}})
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "TWOSTEP_") {
			t.Fatalf("%s=%q: error %q is not one line naming the variable", envName(s.name), value, msg)
		}
	})
}
