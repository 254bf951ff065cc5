package web

import (
	"net/http"
)

func (s *Server) pageOutbox(w http.ResponseWriter, r *http.Request) {
	msgs, err := s.svc.DevMessages(r.Context(), 100)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	p := s.newPage(r, nil)
	type msg struct{ Channel, To, Subject, At, Text string }
	out := make([]msg, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, msg{m.Channel, m.To, m.Subject, p.WhenSeconds(m.At), m.Text})
	}
	p.Data = out
	s.render(w, r, http.StatusOK, "outbox", p)
}
