package main

import (
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

	"gopkg.in/yaml.v3"

	"github.com/twostep/twostep/internal/twostep"
)

// setting is one configuration value (API.md §2): TWOSTEP_<NAME> in the
// environment, --<name-in-kebab-case> as a flag, <name_in_snake_case> in the file.
type setting struct {
	name string // snake_case
	help string
}

var settings = []setting{
	{"listen", "address to listen on (default 127.0.0.1:8080)"},
	{"base_url", "public URL used in links and cookies (default http:// + listen address)"},
	{"data_dir", "where the embedded defaults live (default ./twostep-data)"},
	{"database_url", "sqlite:PATH or postgres://… (default sqlite: + data dir + /twostep.db)"},
	{"sqlite_sync", "normal or full (default normal)"},
	{"database_timeout", "how long a request waits for the database before answering 503 unavailable; also PostgreSQL's connect timeout (default 5s)"},
	{"secret_key_file", "key file, one KEYID:BASE64 per line (default data dir + /secret.key)"},
	{"issuer", "name shown in authenticator apps and messages (default Twostep)"},
	{"dev", "dev mode: messages go to the outbox page, readable by anyone (default on only without SMTP or SMS provider, on a loopback listen address with an http base URL)"},
	{"smtp_url", "smtp://user:pass@host:port, smtps://… or smtp+insecure://host:port"},
	{"mail_from", "sender address (default no-reply@ + base URL host)"},
	{"sms_provider", "twilio, webhook or outbox"},
	{"twilio_account_sid", "Twilio account SID"},
	{"twilio_auth_token", "Twilio auth token"},
	{"twilio_from", "Twilio sender number"},
	{"twilio_base_url", "Twilio REST API URL (default https://api.twilio.com)"},
	{"sms_webhook_url", "webhook provider URL"},
	{"sms_webhook_secret", "webhook provider HMAC secret"},
	{"sms_countries", "comma-separated ISO 3166 alpha-2 codes allowed for SMS/voice (default all)"},
	{"sms_daily_limit", "SMS + calls per day for the whole server (default 1000)"},
	{"min_client_version", "first client version that can do two-step"},
	{"session_idle", "session idle lifetime (default 1h)"},
	{"session_max", "session absolute lifetime (default 24h)"},
	{"confirm_window", "how long an identity confirmation lasts (default 10m)"},
	{"trusted_proxies", "comma-separated CIDRs whose X-Forwarded-For is believed"},
	{"log_format", "text or json (default text)"},
	{"oidc_code_ttl", "how long an OpenID Connect authorization code lives (default 60s, at most 60s)"},
	{"oidc_access_ttl", "how long an OpenID Connect access token and ID token live (default 10m)"},
	{"oidc_refresh_ttl", "how long an unused OpenID Connect refresh token lives (default 720h: 30 days)"},
	{"allow_private_urls", "let owners register back-channel logout URLs on loopback, private or link-local addresses, or over http (default false)"},
	{"metrics_listen", "address of a second listener for GET /metrics, such as 127.0.0.1:9090 (default none: /metrics on the main address, to loopback clients only)"},
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
	SecretKeyFile    string
	Issuer           string
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
	MinClientVersion string
	SessionIdle      time.Duration
	SessionMax       time.Duration
	ConfirmWindow    time.Duration
	TrustedProxies   []netip.Prefix
	LogFormat        string
	MetricsListen    string
	OIDCCodeTTL      time.Duration
	OIDCAccessTTL    time.Duration
	OIDCRefreshTTL   time.Duration
	AllowPrivateURLs bool
}

// configFlags adds every setting as a flag, plus --config, to fs. The returned
// function reads the configuration once fs has parsed its arguments.
func configFlags(fs *flag.FlagSet, getenv func(string) string) func() (*Config, error) {
	vals := map[string]*flagValue{}
	for _, s := range settings {
		v := &flagValue{isBool: s.name == "dev" || s.name == "allow_private_urls"}
		fs.Var(v, flagName(s.name), s.help+" [env "+envName(s.name)+"]")
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

func parseConfig(raw map[string]source) (*Config, error) {
	c := &Config{}
	get := func(name, def string) (string, string) {
		if s, ok := raw[name]; ok {
			return s.value, s.from
		}
		return def, envName(name)
	}
	bad := func(from, v, why string) error { return fmt.Errorf("%s=%q: %s", from, v, why) }

	var from string
	c.Listen, from = get("listen", "127.0.0.1:8080")
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return nil, bad(from, c.Listen, "must be host:port, such as 127.0.0.1:8080 or :8080")
	}
	c.DataDir, _ = get("data_dir", "twostep-data")
	if c.DataDir == "" {
		c.DataDir = "twostep-data"
	}
	if v, from := get("base_url", ""); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, bad(from, v, "must be an http:// or https:// URL such as https://auth.example.com")
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		c.BaseURL, c.baseURLSet = u, true
	}
	c.DatabaseURL, from = get("database_url", "sqlite:"+filepath.Join(c.DataDir, "twostep.db"))
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return nil, fmt.Errorf("%s: must start with sqlite: or postgres://", from)
	}
	c.SQLiteSync, from = get("sqlite_sync", "normal")
	if c.SQLiteSync != "normal" && c.SQLiteSync != "full" {
		return nil, bad(from, c.SQLiteSync, "must be normal or full")
	}
	c.SecretKeyFile, _ = get("secret_key_file", filepath.Join(c.DataDir, "secret.key"))
	c.Issuer, from = get("issuer", "Twostep")
	if strings.TrimSpace(c.Issuer) == "" || strings.Contains(c.Issuer, ":") || len(c.Issuer) > 64 {
		return nil, bad(from, c.Issuer, "must be 1 to 64 characters without a colon")
	}
	c.SMTPURL, from = get("smtp_url", "")
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps" && u.Scheme != "smtp+insecure") || u.Host == "" {
			return nil, fmt.Errorf("%s: must be smtp://host:port, smtps://host:port or smtp+insecure://host:port", from)
		}
	}
	c.SMSProvider, from = get("sms_provider", "")
	if c.SMSProvider != "" && c.SMSProvider != "twilio" && c.SMSProvider != "webhook" && c.SMSProvider != "outbox" {
		return nil, bad(from, c.SMSProvider, "must be twilio, webhook or outbox")
	}
	// Dev mode shows every message, reset and invitation links included, to
	// anyone who asks: it turns itself on only for a newcomer's first run on
	// this machine, never for a server others can reach (API.md §2).
	devDefault := "false"
	if c.SMTPURL == "" && c.SMSProvider == "" && loopbackListen(c.Listen) && (c.BaseURL == nil || c.BaseURL.Scheme == "http") {
		devDefault = "true"
	}
	v, from := get("dev", devDefault)
	dev, err := parseBool(v)
	if err != nil {
		return nil, bad(from, v, "must be true or false")
	}
	c.Dev = dev
	if c.SMSProvider == "" && c.Dev {
		c.SMSProvider = "outbox"
	}
	c.MailFrom, from = get("mail_from", "")
	if c.MailFrom != "" {
		if twostep.NormalizeEmail(c.MailFrom) == "" {
			return nil, bad(from, c.MailFrom, "must be an e-mail address such as no-reply@example.com")
		}
		c.mailFromSet = true
	}
	c.TwilioAccountSID, _ = get("twilio_account_sid", "")
	c.TwilioAuthToken, _ = get("twilio_auth_token", "")
	c.TwilioFrom, _ = get("twilio_from", "")
	c.TwilioBaseURL, from = get("twilio_base_url", "https://api.twilio.com")
	if u, err := url.Parse(c.TwilioBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, bad(from, c.TwilioBaseURL, "must be an http:// or https:// URL")
	}
	c.SMSWebhookURL, _ = get("sms_webhook_url", "")
	c.SMSWebhookSecret, _ = get("sms_webhook_secret", "")
	if v, from := get("sms_countries", ""); v != "" {
		for _, cc := range strings.Split(v, ",") {
			cc = strings.ToUpper(strings.TrimSpace(cc))
			if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
				return nil, bad(from, v, "must be comma-separated two-letter country codes such as FR,JP,US")
			}
			c.SMSCountries = append(c.SMSCountries, cc)
		}
	}
	v, from = get("sms_daily_limit", "1000")
	if c.SMSDailyLimit, err = strconv.Atoi(v); err != nil || c.SMSDailyLimit < 1 {
		return nil, bad(from, v, "must be a whole number, 1 or more (the most SMS and calls a day)")
	}
	c.MinClientVersion, from = get("min_client_version", "")
	if c.MinClientVersion != "" {
		if _, err := twostep.ParseClientVersion("", c.MinClientVersion); err != nil {
			return nil, bad(from, c.MinClientVersion, "must be a dotted version number such as 3.1.0")
		}
	}
	for _, d := range []struct {
		name string
		def  string
		dst  *time.Duration
	}{{"session_idle", "1h", &c.SessionIdle}, {"session_max", "24h", &c.SessionMax}, {"confirm_window", "10m", &c.ConfirmWindow},
		{"database_timeout", "5s", &c.DatabaseTimeout}, {"oidc_code_ttl", "60s", &c.OIDCCodeTTL},
		{"oidc_access_ttl", "10m", &c.OIDCAccessTTL}, {"oidc_refresh_ttl", "720h", &c.OIDCRefreshTTL}} {
		v, from := get(d.name, d.def)
		if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst <= 0 {
			return nil, bad(from, v, "must be a positive Go duration such as 90s, 10m or 1h")
		}
		if d.name == "oidc_code_ttl" && *d.dst > time.Minute {
			return nil, bad(from, v, "must be at most 60s (SECURITY.md OP-01)")
		}
	}
	v, from = get("allow_private_urls", "false")
	if c.AllowPrivateURLs, err = parseBool(v); err != nil {
		return nil, bad(from, v, "must be true or false")
	}
	if c.SessionIdle > c.SessionMax {
		return nil, fmt.Errorf("TWOSTEP_SESSION_IDLE (%s) must not be longer than TWOSTEP_SESSION_MAX (%s)", c.SessionIdle, c.SessionMax)
	}
	if v, from := get("trusted_proxies", ""); v != "" {
		for _, p := range strings.Split(v, ",") {
			prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
			if err != nil {
				return nil, bad(from, v, "must be comma-separated CIDRs such as 10.0.0.0/8,192.168.1.10/32")
			}
			c.TrustedProxies = append(c.TrustedProxies, prefix)
		}
	}
	c.LogFormat, from = get("log_format", "text")
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, bad(from, c.LogFormat, "must be text or json")
	}
	if c.MetricsListen, from = get("metrics_listen", ""); c.MetricsListen != "" {
		_, port, err := net.SplitHostPort(c.MetricsListen)
		if err != nil || port == "" {
			return nil, bad(from, c.MetricsListen, "must be host:port, such as 127.0.0.1:9090")
		}
		if c.MetricsListen == c.Listen && port != "0" {
			return nil, bad(from, c.MetricsListen, "must differ from TWOSTEP_LISTEN")
		}
	}
	if c.SMSProvider == "twilio" && (c.TwilioAccountSID == "" || c.TwilioAuthToken == "" || c.TwilioFrom == "") {
		return nil, errors.New("TWOSTEP_SMS_PROVIDER=twilio needs TWOSTEP_TWILIO_ACCOUNT_SID, TWOSTEP_TWILIO_AUTH_TOKEN and TWOSTEP_TWILIO_FROM")
	}
	if c.SMSProvider == "webhook" && (c.SMSWebhookURL == "" || c.SMSWebhookSecret == "") {
		return nil, errors.New("TWOSTEP_SMS_PROVIDER=webhook needs TWOSTEP_SMS_WEBHOOK_URL and TWOSTEP_SMS_WEBHOOK_SECRET")
	}
	c.setBaseURL(c.Listen)
	return c, nil
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
		c.MailFrom = "no-reply@" + mailDomain(c.BaseURL.Hostname())
	}
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
