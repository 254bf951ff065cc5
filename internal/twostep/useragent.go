package twostep

// Agent is what a User-Agent header says about a device, in names a person
// recognises ("Firefox", "Windows"), as far as it says: "" where it does not.
// It is for showing a member their devices, never for deciding anything: a
// client can send whatever it likes.
type Agent struct {
	Browser  string
	Platform string
}

// agent describes ua with Options.DescribeAgent, or says nothing without one.
func (s *Service) agent(ua string) Agent {
	if s.describeAgent == nil || ua == "" {
		return Agent{}
	}
	return s.describeAgent(ua)
}
