package twostep

import (
	"strconv"
	"strings"
)

// ClientVersion is a dotted version number such as 3.10.0.
type ClientVersion []int

// ParseClientVersion reads a dotted version of one to four numbers ("3", "3.1",
// "3.10.0"); anything else is an *InvalidError for field.
func ParseClientVersion(field, s string) (ClientVersion, error) {
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > 4 {
		return nil, invalid(field, ReasonVersion)
	}
	v := make(ClientVersion, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || len(p) > 9 || (len(p) > 1 && p[0] == '+') {
			return nil, invalid(field, ReasonVersion)
		}
		v[i] = n
	}
	return v, nil
}

// Less reports whether v comes before w, comparing number by number ("3.9.2" <
// "3.10.0"); missing numbers count as zero ("3.1" == "3.1.0").
func (v ClientVersion) Less(w ClientVersion) bool {
	for i := 0; i < max(len(v), len(w)); i++ {
		a, b := 0, 0
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return a < b
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
