package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// decode reads one JSON object into v, refusing unknown fields, trailing data
// and wrong types with a message that names what is wrong. A body declared as
// anything but application/json (parameters such as charset allowed) is
// errNotJSON, before the body is read: curl -d sends a form, and the answer
// must say so rather than find the body empty. A body with no Content-Type
// at all is read as JSON.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return errNotJSON
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", reasonBodyTrailing)
	}
	return nil
}

// describeJSONError is the *InvalidError saying what is wrong with a body.
func describeJSONError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("", reasonBodyEmpty)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", reasonBodyTruncated)
	case errors.As(err, &syntax):
		return badRequest("", reasonBodySyntax, "Offset", strconv.FormatInt(syntax.Offset, 10))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("", reasonBodyNotObject)
		}
		return badRequest(typ.Field, jsonKind(typ.Type.Kind().String()))
	case errors.As(err, &tooBig):
		return badRequest("", reasonBodyTooLarge)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("", reasonUnknownField, "Name", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest("", reasonBodyInvalid)
}

func jsonKind(k string) twostep.Reason {
	switch k {
	case "string":
		return reasonNotString
	case "bool":
		return reasonNotBoolean
	case "ptr":
		return reasonWrongType
	}
	return reasonNotNumber
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonTime is a time in RFC 3339 UTC, or null when zero.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	s.apiError(w, r, twostep.ErrNotFound)
}

// codeSent answers 202 with where a code went, or the error.
func (s *Server) codeSent(w http.ResponseWriter, r *http.Request, cs *twostep.CodeSent, err error) {
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, codeSentBody(cs))
}

// decodeInto decodes the request body into v, answering the error itself; it
// reports whether the handler may go on.
func (s *Server) decodeInto(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decode(r, v); err != nil {
		s.apiError(w, r, err)
		return false
	}
	return true
}

// answer writes v with status, or err as a problem.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) apiOutbox(w http.ResponseWriter, r *http.Request) {
	msgs, err := s.svc.DevMessages(r.Context(), 100)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	type msgJSON struct {
		ID      string   `json:"id"`
		Channel string   `json:"channel"`
		To      string   `json:"to"`
		Subject string   `json:"subject"`
		Text    string   `json:"text"`
		At      jsonTime `json:"at"`
	}
	out := make([]msgJSON, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, msgJSON{m.ID, m.Channel, m.To, m.Subject, m.Text, jsonTime(m.At)})
	}
	writeJSON(w, http.StatusOK, out)
}
