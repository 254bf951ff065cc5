package web

import (
	"strings"
	"sync"

	"github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"

	"github.com/twostep/twostep/internal/twostep"
)

// uaParser is built once, on first use: building its trie takes tens of
// milliseconds that most commands never need.
var uaParser = sync.OnceValue(useragent.NewParser)

// platformNames are the parser's operating systems as people call them.
var platformNames = map[agents.OS]string{agents.OSMacOS: "macOS"}

// clientNames name the programs that are not browsers, which the parser
// leaves unnamed, by the first product token of their User-Agent.
var clientNames = map[string]string{"Go-http-client": "Go", "python-requests": "Python", "okhttp": "OkHttp"}

// DescribeUserAgent reads the browser and platform of a User-Agent header
// ("Chrome", "macOS"), "" for what it does not say. It is for showing people
// their devices, never for deciding anything: a client sends what it likes.
// main gives it to the domain as twostep.Options.DescribeAgent.
func DescribeUserAgent(ua string) twostep.Agent {
	if ua == "" {
		return twostep.Agent{}
	}
	a := uaParser().Parse(ua)
	ag := twostep.Agent{Browser: string(a.Browser()), Platform: string(a.OS())}
	if n, ok := platformNames[a.OS()]; ok {
		ag.Platform = n
	}
	if a.OS() == agents.OSIOS {
		switch a.Device() {
		case agents.DeviceMobile:
			ag.Platform = "iPhone"
		case agents.DeviceTablet:
			ag.Platform = "iPad"
		}
	}
	if ag.Browser == "" && !strings.HasPrefix(ua, "Mozilla/") {
		name, _, _ := strings.Cut(ua, "/")
		name, _, _ = strings.Cut(name, " ")
		if n, ok := clientNames[name]; ok {
			name = n
		}
		if len(name) <= 40 {
			ag.Browser = name
		}
	}
	return ag
}

// deviceName says a device's browser and platform in words ("Chrome on
// macOS"), as far as its User-Agent tells them.
func (p *page) deviceName(ua string) string {
	ag := DescribeUserAgent(ua)
	switch {
	case ag.Browser != "" && ag.Platform != "":
		return p.T("devices.browser_on", "Browser", ag.Browser, "Platform", ag.Platform)
	case ag.Browser != "":
		return ag.Browser
	case ag.Platform != "":
		return p.T("devices.unknown_on", "Platform", ag.Platform)
	}
	return p.T("devices.unknown")
}
