package twostep

import "strings"

// Agent is what a User-Agent header says about a device, in names a person
// recognises ("Firefox", "Windows"), as far as it says: "" where it does not.
// It is for showing a member their devices, never for deciding anything: a
// client can send whatever it likes.
type Agent struct {
	Browser  string
	Platform string
}

// browsers are tried in order: many browsers name the ones they derive from
// too (Edge says Chrome and Safari; Chrome says Safari).
var browsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"OPR/", "Opera"}, {"Vivaldi/", "Vivaldi"},
	{"SamsungBrowser/", "Samsung Internet"}, {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"HeadlessChrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go"}, {"python-requests/", "Python"},
	{"okhttp/", "OkHttp"},
}

var platforms = []struct{ token, name string }{
	{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
	{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
}

// DescribeUserAgent reads the browser and platform from a User-Agent header.
func DescribeUserAgent(ua string) Agent {
	var a Agent
	for _, b := range browsers {
		if strings.Contains(ua, b.token) {
			a.Browser = b.name
			break
		}
	}
	for _, p := range platforms {
		if strings.Contains(ua, p.token) {
			a.Platform = p.name
			break
		}
	}
	return a
}
