package verify

import "net/http"

// Roots are the two path prefixes every Verify URL is served under (API.md
// §10): /verify/v2 for a client configured with a base URL, /v2 so that a
// Twilio SDK switches by host name alone (verify.twilio.com/v2/…).
var Roots = []string{"/verify/v2", "/v2"}

// routes is every URL of the Verify API, under both roots.
func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	for _, p := range Roots {
		mux.HandleFunc("POST "+p+"/Services", a.withKey(a.createService))
		mux.HandleFunc("GET "+p+"/Services/{service}", a.withKey(a.fetchService))
		mux.HandleFunc("POST "+p+"/Services/{service}/Verifications", a.withKey(a.createVerification))
		mux.HandleFunc("GET "+p+"/Services/{service}/Verifications/{sid}", a.withKey(a.fetchVerification))
		mux.HandleFunc("POST "+p+"/Services/{service}/Verifications/{sid}", a.withKey(a.updateVerification))
		mux.HandleFunc("POST "+p+"/Services/{service}/VerificationCheck", a.withKey(a.checkVerification))
		mux.HandleFunc("POST "+p+"/Services/{service}/Entities/{identity}/Factors", a.withKey(a.createFactor))
		mux.HandleFunc("POST "+p+"/Services/{service}/Entities/{identity}/Factors/{factor}", a.withKey(a.verifyFactor))
		mux.HandleFunc("POST "+p+"/Services/{service}/Entities/{identity}/Challenges", a.withKey(a.createChallenge))
		mux.HandleFunc(p+"/", a.withKey(a.notFound))
	}
	return mux
}

// Owns reports whether path is the Verify API's, for main to route it here.
func Owns(path string) bool {
	for _, p := range Roots {
		if path == p || len(path) > len(p) && path[:len(p)+1] == p+"/" {
			return true
		}
	}
	return false
}
