package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/twostep/twostep/internal/oidc"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/verify"
	"github.com/twostep/twostep/internal/web"
)

// loginPath is the pages' sign-in URL for an OpenID Connect authorization
// request; the provider appends the request's id.
const loginPath = "/sign-in?auth_request="

// handler mounts the pages and API (web), the OpenID Connect provider and
// the Verify API on one server: the provider's and Verify's paths go to
// them, everything else to web.
func (a *app) handler(ctx context.Context, h *web.Server) (http.Handler, error) {
	if err := a.svc.EnsureSigningKey(ctx); err != nil {
		return nil, fmt.Errorf("oidc signing key: %w", err)
	}
	p, err := oidc.New(oidc.Options{Service: a.svc, Issuer: a.cfg.BaseURL, LoginPath: loginPath, Logger: a.log,
		Describe: web.InvalidText})
	if err != nil {
		return nil, err
	}
	v := verify.New(verify.Options{Service: a.svc, Logger: a.log, BaseURL: a.cfg.BaseURL, Describe: web.InvalidText,
		ClientIP: h.ClientIP})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if oidc.Owns(r.URL.Path) {
			p.ServeHTTP(w, r)
			return
		}
		if verify.Owns(r.URL.Path) {
			v.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}

// oidcCallback is the provider's callback as the pages go to it.
const oidcCallback = oidc.CallbackPath + "?id="

// oidcOptions are the provider's rules from the configuration.
func oidcOptions(cfg *Config) twostep.OIDCOptions {
	return twostep.OIDCOptions{CodeTTL: cfg.OIDCCodeTTL, AccessTTL: cfg.OIDCAccessTTL, RefreshTTL: cfg.OIDCRefreshTTL,
		AllowPrivateURLs: cfg.AllowPrivateURLs,
		Resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}}
}

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// cmdOIDCClient runs `twostep oidc client create|list|delete` (API.md §7).
func cmdOIDCClient(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "client" {
		return usageError{"oidc needs the subcommand client create, client list or client delete; see 'twostep help'"}
	}
	switch args[1] {
	case "create":
		return cmdOIDCClientCreate(ctx, args[2:], getenv, stdout, stderr)
	case "list":
		return cmdOIDCClientList(ctx, args[2:], getenv, stdout, stderr)
	case "delete":
		return cmdOIDCClientDelete(ctx, args[2:], getenv, stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown command %q; see 'twostep help'", "oidc client "+args[1])}
}

func cmdOIDCClientCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("oidc client create")
	load := configFlags(fs, getenv)
	name := fs.String("name", "", "the product's name, shown on the sign-in pages (required)")
	var redirects, logouts listFlag
	fs.Var(&redirects, "redirect-uri", "a redirect URI, matched exactly (required; repeat for several)")
	fs.Var(&logouts, "post-logout-redirect-uri", "where the browser may go after logging out (repeat for several)")
	backchannel := fs.String("backchannel-logout-uri", "", "where Twostep POSTs back-channel logout tokens")
	public := fs.Bool("public", false, "a public client (single-page or native app): no secret, PKCE required")
	org := fs.String("org", "", "only this organisation's members (id or slug) may sign in")
	twoStep := fs.Bool("require-two-step", false, "always require a second step proven in the sign-in")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *name == "" || len(redirects) == 0 {
		return usageError{"oidc client create needs --name and at least one --redirect-uri"}
	}
	a, err := loadApp(ctx, load, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	c, secret, err := a.svc.CreateOIDCClient(ctx, nil, twostep.NewOIDCClient{Name: *name, RedirectURIs: redirects,
		PostLogoutRedirectURIs: logouts, BackchannelLogoutURI: *backchannel, Public: *public, Org: *org, RequireTwoStep: *twoStep})
	if err != nil {
		return cliError(err, map[string]string{"name": "--name", "redirect_uris": "--redirect-uri",
			"post_logout_redirect_uris": "--post-logout-redirect-uri", "backchannel_logout_uri": "--backchannel-logout-uri"})
	}
	fmt.Fprintln(stdout, c.ID)
	if secret != "" {
		fmt.Fprintln(stdout, secret)
	}
	return nil
}

// cliError names a flag instead of the field an *InvalidError names.
func cliError(err error, flags map[string]string) error {
	if ie, ok := err.(*twostep.InvalidError); ok {
		if f, ok := flags[ie.Field]; ok {
			return usageError{f + ": " + web.InvalidText(ie)}
		}
	}
	if err == twostep.ErrNotFound {
		return usageError{"--org: no such organisation"}
	}
	return err
}

func cmdOIDCClientList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("oidc client list")
	load := configFlags(fs, getenv)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	a, err := loadApp(ctx, load, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	cs, err := a.svc.OIDCClients(ctx, nil)
	if err != nil {
		return err
	}
	for _, c := range cs {
		kind := "confidential"
		if c.Public() {
			kind = "public"
		}
		org := c.OrgID
		if org == "" {
			org = "-"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\torg=%s\ttwo-step=%t\t%s\n", c.ID, c.Name, kind, org, c.RequireTwoStep, strings.Join(c.RedirectURIs, " "))
	}
	return nil
}

func cmdOIDCClientDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("oidc client delete")
	load := configFlags(fs, getenv)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"oidc client delete needs CLIENT_ID"}
	}
	id := args[0]
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	a, err := loadApp(ctx, load, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.svc.DeleteOIDCClient(ctx, nil, id); err == twostep.ErrNotFound || err != nil && strings.Contains(err.Error(), "not found") {
		return usageError{fmt.Sprintf("no OIDC client %q", id)}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Deleted client %s; its tokens no longer work.\n", id)
	return nil
}
