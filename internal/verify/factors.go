package verify

import (
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

func (a *API) createFactor(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	a.fail(w, r, twostep.ErrNotFound, 0)
}

func (a *API) verifyFactor(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	a.fail(w, r, twostep.ErrNotFound, 0)
}

func (a *API) createChallenge(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	a.fail(w, r, twostep.ErrNotFound, 0)
}
