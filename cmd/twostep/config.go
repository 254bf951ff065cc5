package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/web"
)

// setting is one configuration value (API.md §2), and this table is the only
// place each one is named: TWOSTEP_<NAME> in the environment, --<name-in-kebab-
// case> as a flag, <name> in the YAML file. The flags' help is made from it, and
// TestSettingsDocumented holds docs/configuration.md to it. Settings are read in
// the table's order, so a default may depend on the settings above it.
type setting struct {
	name string // snake_case
	help string
	// def is the default; derived, when set, makes it from the settings read
	// before, and defDoc says it in words for the help (also when def is only
	// a path that reads better otherwise).
	def     string
	derived func(c *Config) string
	defDoc  string
	// parse sets c from v, the configured value or the default, or says why v
	// is wrong; the error then names where v came from (TWOSTEP_X, --x or the
	// file's key) and, unless secret, quotes it.
	parse  func(c *Config, v string) (why string)
	secret bool // the value may hold a password: errors do not repeat it
	isBool bool // --name alone means --name=true
}

var settings = []setting{
	{name: "listen", help: "address to listen on", def: "127.0.0.1:8080",
		parse: func(c *Config, v string) string {
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				return "must be host:port, such as 127.0.0.1:8080 or :8080"
			}
			c.Listen = v
			return ""
		}},
	{name: "data_dir", help: "where the embedded defaults live", def: "twostep-data", defDoc: "./twostep-data",
		parse: func(c *Config, v string) string { c.DataDir = cmp.Or(v, "twostep-data"); return "" }},
	{name: "base_url", help: "public URL used in links and cookies", defDoc: "http:// + listen address",
		parse: func(c *Config, v string) string {
			if v == "" {
				return ""
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				return "must be an http:// or https:// URL such as https://auth.example.com"
			}
			u.Path = strings.TrimSuffix(u.Path, "/")
			c.BaseURL, c.baseURLSet = u, true
			return ""
		}},
	{name: "database_url", help: "sqlite:PATH or postgres://…", secret: true,
		derived: func(c *Config) string { return "sqlite:" + filepath.Join(c.DataDir, "twostep.db") }, defDoc: "sqlite: + data dir + /twostep.db",
		parse: func(c *Config, v string) string {
			if !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				return "must start with sqlite: or postgres://"
			}
			c.DatabaseURL = v
			return ""
		}},
	{name: "sqlite_sync", help: "normal or full", def: "normal",
		parse: oneOf(func(c *Config) *string { return &c.SQLiteSync }, "normal", "full")},
	{name: "secret_key_file", help: "key file, one KEYID:BASE64 per line",
		derived: func(c *Config) string { return filepath.Join(c.DataDir, "secret.key") }, defDoc: "data dir + /secret.key",
		parse: text(func(c *Config) *string { return &c.SecretKeyFile })},
	// The product's own look (issue 20): its name on every page and message,
	// its logo, its colour.
	{name: "product_name", help: "the product's name, on every page and in every message", def: web.DefaultProductName,
		parse: func(c *Config, v string) string {
			v = strings.TrimSpace(v)
			if v == "" || utf8.RuneCountInString(v) > 64 || strings.ContainsFunc(v, unicode.IsControl) {
				return "must be 1 to 64 characters on one line"
			}
			c.ProductName = v
			return ""
		}},
	{name: "logo_url", help: "https URL of the product's logo", defDoc: "the data dir's logo.svg, logo.png or logo.webp when there, else none",
		parse: func(c *Config, v string) string {
			if v == "" {
				return ""
			}
			if _, err := web.ParseLogoURL(v); err != nil {
				return err.Error()
			}
			c.LogoURL = v
			return ""
		}},
	{name: "accent_color", help: "the product's colour for links and buttons, #RRGGBB", defDoc: web.DefaultAccent.String(),
		parse: func(c *Config, v string) string {
			if v == "" {
				return ""
			}
			col, err := web.ParseColor(v)
			if err != nil {
				return err.Error()
			}
			c.AccentColor = col
			return ""
		}},
	{name: "issuer", help: "name shown in authenticator apps", defDoc: "the product name, colons removed",
		derived: func(c *Config) string {
			return strings.TrimSpace(strings.ReplaceAll(c.ProductName, ":", ""))
		},
		parse: func(c *Config, v string) string {
			if strings.TrimSpace(v) == "" || strings.Contains(v, ":") || utf8.RuneCountInString(v) > 64 {
				return "must be 1 to 64 characters without a colon"
			}
			c.Issuer = v
			return ""
		}},
	{name: "smtp_url", help: "smtp://user:pass@host:port, smtps://… or smtp+insecure://host:port", secret: true,
		parse: func(c *Config, v string) string {
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps" && u.Scheme != "smtp+insecure") || u.Host == "" {
					return "must be smtp://host:port, smtps://host:port or smtp+insecure://host:port"
				}
			}
			c.SMTPURL = v
			return ""
		}},
	{name: "sms_provider", help: "twilio, webhook or outbox", defDoc: "outbox in dev mode, else none",
		parse: func(c *Config, v string) string {
			if v != "" {
				return oneOf(func(c *Config) *string { return &c.SMSProvider }, "twilio", "webhook", "outbox")(c, v)
			}
			return ""
		}},
	// Dev mode shows every message, reset and invitation links included, to
	// anyone who asks: it turns itself on only for a newcomer's first run on
	// this machine, never for a server others can reach (API.md §2).
	{name: "dev", help: "dev mode: messages go to the outbox page, readable by anyone", isBool: true,
		derived: func(c *Config) string {
			return strconv.FormatBool(c.SMTPURL == "" && c.SMSProvider == "" && loopbackListen(c.Listen) &&
				(c.BaseURL == nil || c.BaseURL.Scheme == "http"))
		},
		defDoc: "on only without SMTP or SMS provider, on a loopback listen address with an http base URL",
		parse: func(c *Config, v string) string {
			dev, err := parseBool(v)
			if err != nil {
				return "must be true or false"
			}
			c.Dev = dev
			if c.SMSProvider == "" && c.Dev {
				c.SMSProvider = "outbox"
			}
			return ""
		}},
	{name: "mail_from", help: "sender address", defDoc: "no-reply@ + base URL host (at an IP address: the SMTP user when it is an e-mail address, else no-reply@localhost)",
		parse: func(c *Config, v string) string {
			if v == "" {
				return "" // setBaseURL makes it
			}
			if twostep.NormalizeEmail(v) == "" {
				return "must be an e-mail address such as no-reply@example.com"
			}
			c.MailFrom, c.mailFromSet = v, true
			return ""
		}},
	{name: "twilio_account_sid", help: "Twilio account SID", parse: text(func(c *Config) *string { return &c.TwilioAccountSID })},
	{name: "twilio_auth_token", help: "Twilio auth token", secret: true, parse: text(func(c *Config) *string { return &c.TwilioAuthToken })},
	{name: "twilio_from", help: "Twilio sender number", parse: text(func(c *Config) *string { return &c.TwilioFrom })},
	{name: "twilio_base_url", help: "Twilio REST API URL", def: "https://api.twilio.com",
		parse: func(c *Config, v string) string {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return "must be an http:// or https:// URL"
			}
			c.TwilioBaseURL = v
			return ""
		}},
	{name: "sms_webhook_url", help: "webhook provider URL", parse: text(func(c *Config) *string { return &c.SMSWebhookURL })},
	{name: "sms_webhook_secret", help: "webhook provider HMAC secret", secret: true,
		parse: text(func(c *Config) *string { return &c.SMSWebhookSecret })},
	{name: "sms_countries", help: "comma-separated ISO 3166 alpha-2 codes allowed for SMS/voice", defDoc: "all",
		parse: func(c *Config, v string) string {
			if v == "" {
				return ""
			}
			for _, cc := range strings.Split(v, ",") {
				cc = strings.ToUpper(strings.TrimSpace(cc))
				if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
					return "must be comma-separated two-letter country codes such as FR,JP,US"
				}
				c.SMSCountries = append(c.SMSCountries, cc)
			}
			return ""
		}},
	{name: "sms_daily_limit", help: "SMS + calls per day for the whole server", def: "1000",
		parse: func(c *Config, v string) string {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return "must be a whole number, 1 or more (the most SMS and calls a day)"
			}
			c.SMSDailyLimit = n
			return ""
		}},
	{name: "verify_org_daily_limit", help: "SMS + calls per day per organisation through the Verify API", def: "500",
		parse: func(c *Config, v string) string {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return "must be a whole number, 1 or more (the most Verify SMS and calls a day per organisation)"
			}
			c.VerifyOrgDailyLimit = n
			return ""
		}},
	{name: "min_client_version", help: "first client version that can do two-step",
		parse: func(c *Config, v string) string {
			if v != "" {
				if _, err := twostep.ParseClientVersion("", v); err != nil {
					return "must be a dotted version number such as 3.1.0"
				}
			}
			c.MinClientVersion = v
			return ""
		}},
	{name: "session_idle", help: "session idle lifetime", def: "1h", parse: duration(func(c *Config) *time.Duration { return &c.SessionIdle })},
	{name: "session_max", help: "session absolute lifetime", def: "24h", parse: duration(func(c *Config) *time.Duration { return &c.SessionMax })},
	{name: "confirm_window", help: "how long an identity confirmation lasts", def: "10m",
		parse: duration(func(c *Config) *time.Duration { return &c.ConfirmWindow })},
	{name: "database_timeout", def: "5s",
		help:  "how long a request waits for the database before answering 503 unavailable; also PostgreSQL's connect timeout",
		parse: duration(func(c *Config) *time.Duration { return &c.DatabaseTimeout })},
	{name: "oidc_code_ttl", help: "how long an OpenID Connect authorization code lives, at most 60s", def: "60s",
		parse: func(c *Config, v string) string {
			if msg := duration(func(c *Config) *time.Duration { return &c.OIDCCodeTTL })(c, v); msg != "" {
				return msg
			}
			if c.OIDCCodeTTL > time.Minute {
				return "must be at most 60s (SECURITY.md OP-01)"
			}
			return ""
		}},
	{name: "oidc_access_ttl", help: "how long an OpenID Connect access token and ID token live", def: "10m",
		parse: duration(func(c *Config) *time.Duration { return &c.OIDCAccessTTL })},
	{name: "oidc_refresh_ttl", help: "how long an unused OpenID Connect refresh token lives", def: "720h", defDoc: "720h: 30 days",
		parse: duration(func(c *Config) *time.Duration { return &c.OIDCRefreshTTL })},
	{name: "allow_private_urls", isBool: true, def: "false",
		help: "let owners register back-channel logout URLs on loopback, private or link-local addresses, or over http",
		parse: func(c *Config, v string) string {
			b, err := parseBool(v)
			if err != nil {
				return "must be true or false"
			}
			c.AllowPrivateURLs = b
			return ""
		}},
	// Forward auth (API.md §8): the protected products and Twostep's base URL
	// live under this domain; the forward-auth cookie is scoped to it.
	{name: "cookie_domain", help: "domain of the forward-auth cookie, under which the protected apps and the base URL live, such as example.com",
		defDoc: "none: forward auth is off",
		parse: func(c *Config, v string) string {
			v = strings.ToLower(strings.TrimPrefix(v, "."))
			if v != "" && !validDomain(v) {
				return "must be a domain name such as example.com"
			}
			c.CookieDomain = v
			return ""
		}},
	{name: "trusted_proxies", help: "comma-separated CIDRs whose X-Forwarded-For is believed",
		parse: func(c *Config, v string) string {
			if v == "" {
				return ""
			}
			for _, p := range strings.Split(v, ",") {
				prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
				if err != nil {
					return "must be comma-separated CIDRs such as 10.0.0.0/8,192.168.1.10/32"
				}
				c.TrustedProxies = append(c.TrustedProxies, prefix)
			}
			return ""
		}},
	{name: "log_format", help: "text or json", def: "text", parse: oneOf(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
	{name: "metrics_listen", help: "address of a second listener for GET /metrics, such as 127.0.0.1:9090",
		defDoc: "none: /metrics on the main address, to loopback clients only",
		parse: func(c *Config, v string) string {
			if v == "" {
				return ""
			}
			_, port, err := net.SplitHostPort(v)
			if err != nil || port == "" {
				return "must be host:port, such as 127.0.0.1:9090"
			}
			if v == c.Listen && port != "0" {
				return "must differ from TWOSTEP_LISTEN"
			}
			c.MetricsListen = v
			return ""
		}},
}

// text is the parser of a setting any string will do for.
func text(field func(*Config) *string) func(*Config, string) string {
	return func(c *Config, v string) string { *field(c) = v; return "" }
}

// oneOf is the parser of a setting that takes one of a few words.
func oneOf(field func(*Config) *string, words ...string) func(*Config, string) string {
	return func(c *Config, v string) string {
		if !slices.Contains(words, v) {
			return "must be " + strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
		}
		*field(c) = v
		return ""
	}
}

// duration is the parser of a positive duration.
func duration(field func(*Config) *time.Duration) func(*Config, string) string {
	return func(c *Config, v string) string {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return "must be a positive Go duration such as 90s, 10m or 1h"
		}
		*field(c) = d
		return ""
	}
}

// usage is the setting's line in a command's -h.
func (s setting) usage() string {
	u := s.help
	if d := cmp.Or(s.defDoc, s.def); d != "" {
		u += " (default " + d + ")"
	}
	return u + " [env " + envName(s.name) + ", file key " + s.name + "]"
}

func envName(s string) string  { return "TWOSTEP_" + strings.ToUpper(s) }
func flagName(s string) string { return strings.ReplaceAll(s, "_", "-") }

// Config is the parsed configuration of every command.
type Config struct {
	Listen           string
	BaseURL          *url.URL
	baseURLSet       bool
	mailFromSet      bool
	DataDir          string
	DatabaseURL      string
	SQLiteSync       string
	DatabaseTimeout  time.Duration
	OIDCCodeTTL      time.Duration
	OIDCAccessTTL    time.Duration
	OIDCRefreshTTL   time.Duration
	AllowPrivateURLs bool
	SecretKeyFile    string
	Issuer           string
	ProductName      string
	LogoURL          string
	AccentColor      web.Color
	Dev              bool
	SMTPURL          string
	MailFrom         string
	SMSProvider      string
	TwilioAccountSID string
	TwilioAuthToken  string
	TwilioFrom       string
	TwilioBaseURL    string
	SMSWebhookURL    string
	SMSWebhookSecret string
	SMSCountries     []string
	SMSDailyLimit    int
	// VerifyOrgDailyLimit caps each organisation's Verify SMS and calls a day.
	VerifyOrgDailyLimit int
	MinClientVersion    string
	SessionIdle         time.Duration
	SessionMax          time.Duration
	ConfirmWindow       time.Duration
	TrustedProxies      []netip.Prefix
	CookieDomain        string
	LogFormat           string
	MetricsListen       string
}

// configFlags adds every setting as a flag, plus --config, to fs. The returned
// function reads the configuration once fs has parsed its arguments.
func configFlags(fs *flag.FlagSet, getenv func(string) string) func() (*Config, error) {
	vals := map[string]*flagValue{}
	for _, s := range settings {
		v := &flagValue{isBool: s.isBool}
		fs.Var(v, flagName(s.name), s.usage())
		vals[s.name] = v
	}
	file := fs.String("config", "", "YAML file with the same settings in snake_case")
	return func() (*Config, error) {
		raw := map[string]source{}
		if *file != "" {
			if err := readConfigFile(*file, raw); err != nil {
				return nil, err
			}
		}
		for _, s := range settings {
			if v, ok := lookupEnv(getenv, envName(s.name)); ok {
				raw[s.name] = source{v, envName(s.name)}
			}
		}
		fs.Visit(func(f *flag.Flag) {
			name := strings.ReplaceAll(f.Name, "-", "_")
			if p, ok := vals[name]; ok {
				raw[name] = source{p.v, "--" + f.Name}
			}
		})
		return parseConfig(raw)
	}
}

// flagValue is a setting given as a flag; --dev alone means --dev=true.
type flagValue struct {
	v      string
	isBool bool
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.v = v; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// source is a raw value and where it came from, for error messages.
type source struct {
	value string
	from  string
}

func readConfigFile(path string, raw map[string]source) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("--config %s: not valid YAML: %v", path, err)
	}
	for k, v := range m {
		if !slices.ContainsFunc(settings, func(s setting) bool { return s.name == k }) {
			return fmt.Errorf("--config %s: unknown key %q", path, k)
		}
		var s string
		switch v := v.(type) {
		case nil:
			continue
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			s = strings.Join(parts, ",")
		case map[string]any:
			return fmt.Errorf("--config %s: %s must be a single value or a list", path, k)
		default:
			s = fmt.Sprint(v)
		}
		raw[k] = source{s, path + ": " + k}
	}
	return nil
}

// parseConfig reads every setting, in the table's order, from raw or its
// default, then checks the rules between settings.
func parseConfig(raw map[string]source) (*Config, error) {
	c := &Config{}
	for _, s := range settings {
		v, from := s.def, envName(s.name)
		if s.derived != nil {
			v = s.derived(c)
		}
		if r, ok := raw[s.name]; ok {
			v, from = r.value, r.from
		}
		if why := s.parse(c, v); why != "" {
			if s.secret {
				return nil, fmt.Errorf("%s: %s", from, why)
			}
			return nil, fmt.Errorf("%s=%q: %s", from, v, why)
		}
	}
	if c.SessionIdle > c.SessionMax {
		return nil, fmt.Errorf("TWOSTEP_SESSION_IDLE (%s) must not be longer than TWOSTEP_SESSION_MAX (%s)", c.SessionIdle, c.SessionMax)
	}
	if c.SMSProvider == "twilio" && (c.TwilioAccountSID == "" || c.TwilioAuthToken == "" || c.TwilioFrom == "") {
		return nil, errors.New("TWOSTEP_SMS_PROVIDER=twilio needs TWOSTEP_TWILIO_ACCOUNT_SID, TWOSTEP_TWILIO_AUTH_TOKEN and TWOSTEP_TWILIO_FROM")
	}
	if c.SMSProvider == "webhook" && (c.SMSWebhookURL == "" || c.SMSWebhookSecret == "") {
		return nil, errors.New("TWOSTEP_SMS_PROVIDER=webhook needs TWOSTEP_SMS_WEBHOOK_URL and TWOSTEP_SMS_WEBHOOK_SECRET")
	}
	c.setBaseURL(c.Listen)
	if d := c.CookieDomain; d != "" {
		if host := strings.ToLower(c.BaseURL.Hostname()); host != d && !strings.HasSuffix(host, "."+d) {
			return nil, fmt.Errorf("TWOSTEP_COOKIE_DOMAIN (%s) must hold the base URL's host (%s): the sign-in page sets the cookie", d, host)
		}
	}
	return c, nil
}

// validDomain reports whether d is a lower-case DNS name: labels of letters,
// digits and inner hyphens, joined by dots.
func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}

// setBaseURL derives the base URL (and the default sender) from the address the
// server listens on, unless the base URL was configured.
func (c *Config) setBaseURL(listen string) {
	if !c.baseURLSet {
		host, port, _ := net.SplitHostPort(listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		c.BaseURL = &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
	}
	if !c.mailFromSet {
		c.MailFrom = defaultMailFrom(c.BaseURL.Hostname(), c.SMTPURL)
	}
}

// defaultMailFrom is the sender when TWOSTEP_MAIL_FROM is not set:
// no-reply@ the base URL's host when it is a name; at an IP address, the
// SMTP account's user name when that is an e-mail address (what the relay
// lets it send as); else no-reply@localhost, never an address at an IP
// address, which mailboxes would refuse or tell people to allow.
func defaultMailFrom(host, smtpURL string) string {
	if mailDomain(host) == host {
		return "no-reply@" + host
	}
	if u, err := url.Parse(smtpURL); err == nil && u.User != nil {
		if user := u.User.Username(); twostep.NormalizeEmail(user) != "" {
			return user
		}
	}
	return "no-reply@localhost"
}

// loopbackListen reports whether listen (host:port) accepts connections from
// this machine only: a loopback address or "localhost". An empty host (every
// interface) or any other name does not count; names are not resolved.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}
