package audit

import (
	"time"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/profiles"
)

// Login describes one sign-in or launch into a browser session (the signed
// in-context link, a SMART launch, a sign-in page), refused or not.
type Login struct {
	Time time.Time
	// Door is how the person came in (session.DoorLink, …), recorded in
	// the subtype's display and the entity.
	Door string
	// User is the person signed in, or for a refusal the person as far as
	// the launch was verified (nil when nothing was).
	User *auth.Principal
	// Launcher is the client id of the launching system or app, when
	// known (claimed, for a refusal before its signature is checked).
	Launcher string
	// Patient is the patient's resource id, when found; NHSNumber as
	// launched.
	Patient   string
	NHSNumber string
	// Address is the browser's network address.
	Address string
	// Status is the HTTP status answered: below 400 a success.
	Status int
	// Reason says why it was refused, in words.
	Reason string
	// Logout records a sign-out instead (DICOM 110123).
	Logout bool
}

// LoginEvent builds the AuditEvent of l: DICOM 110114 User Authentication,
// subtype 110122 Login, the user with their role and organisation, the
// launcher as the application, the patient as the entity.
func LoginEvent(l *Login) *AuditEvent {
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	t := resource.FormatInstant(l.Time)
	desc := l.Reason
	if l.Status >= 400 && desc == "" {
		desc = "refused"
	}
	if len(desc) > 1000 {
		desc = desc[:1000]
	}
	p := l.User
	if p != nil {
		// The launcher is the application; the user is the requestor.
		q := *p
		q.ClientID = l.Launcher
		p = &q
	} else if l.Launcher != "" {
		p = &auth.Principal{ClientID: l.Launcher}
	}
	var agents []Agent
	if p != nil && p.Role != auth.RoleNone {
		agents = agentsFor(p)
	} else {
		who := Agent{Type: Concept{Coding: []Coding{coding(sysAgentType, "humanuser", "human user")}}, Who: Reference{Display: "unverified"}, Requestor: true}
		agents = append([]Agent{who}, launcherAgent(l.Launcher)...)
	}
	if l.Address != "" {
		agents[0].Network = &Network{Address: l.Address, Type: "2"}
	}
	ev := &AuditEvent{
		ResourceType: "AuditEvent",
		ID:           newEventID(),
		Meta:         Meta{VersionID: "1", LastUpdated: t, Profile: []string{profiles.ProfileUKCoreAuditEvent}},
		Type:         coding(sysDICOM, "110114", "User Authentication"),
		Subtype:      []Coding{coding(sysDICOM, "110122", "Login"), coding(SysLaunchDoor, l.Door, "")},
		Action:       "E",
		Recorded:     t,
		Outcome:      eventOutcome(l.Status),
		OutcomeDesc:  desc,
		Source:       source(),
		Agent:        agents,
	}
	if l.Logout {
		ev.Subtype[0] = coding(sysDICOM, "110123", "Logout")
	}
	if l.Patient != "" {
		ev.Entity = append(ev.Entity, Entity{
			What: &Reference{Reference: "Patient/" + l.Patient},
			Type: coding(sysEntityType, "1", "Person"),
			Role: &Coding{System: sysObjectRole, Code: "1", Display: "Patient"},
		})
	} else if l.NHSNumber != "" {
		ev.Entity = append(ev.Entity, Entity{
			What: &Reference{Identifier: &Identifier{System: profiles.SystemNHSNumber, Value: l.NHSNumber}},
			Type: coding(sysEntityType, "1", "Person"),
			Role: &Coding{System: sysObjectRole, Code: "1", Display: "Patient"},
		})
	}
	return ev
}

// SysLaunchDoor is the system of the door a launch came through (link,
// smart-ehr, smart-app, signin, dev…), in a login's subtype.
const SysLaunchDoor = profiles.CodeSystemBaseURL + "launch-door"

func agentsFor(p *auth.Principal) []Agent {
	purposes := []Concept{{Coding: []Coding{coding(sysActReason, "TREAT", "treatment")}}}
	return agents(p, purposes)
}

func launcherAgent(id string) []Agent {
	if id == "" {
		return nil
	}
	return []Agent{{
		Type: Concept{Coding: []Coding{coding(sysDICOM, "110150", "Application")}},
		Who:  Reference{Identifier: &Identifier{System: SysClientID, Value: id}},
	}}
}
