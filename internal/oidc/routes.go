package oidc

import "net/http"

// routes is every URL the provider answers (API.md §7); main mounts them
// beside the pages on the one server. The library's router serves the
// protocol endpoints; the callback from the pages is ours, to answer a
// request the domain failed with its own error.
func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+DiscoveryPath, p.op)
	mux.HandleFunc("GET "+CallbackPath, p.callback)
	mux.Handle("GET /oauth2/authorize", p.op)
	mux.Handle("POST /oauth2/authorize", p.op)
	mux.Handle("POST /oauth2/token", p.op)
	mux.Handle("GET /oauth2/userinfo", p.op)
	mux.Handle("POST /oauth2/userinfo", p.op)
	mux.Handle("GET /oauth2/keys", p.op)
	mux.Handle("POST /oauth2/revoke", p.op)
	mux.Handle("POST /oauth2/introspect", p.op)
	mux.Handle("GET /oauth2/end-session", p.op)
	mux.Handle("POST /oauth2/end-session", p.op)
	mux.Handle("OPTIONS /", p.op) // CORS preflight of browser clients
	return mux
}

// Owns reports whether the path is one of the provider's, for main to route it here.
func Owns(path string) bool {
	return path == DiscoveryPath || len(path) >= 8 && path[:8] == "/oauth2/"
}
