package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/fhir/outcome"
	"ucp/profiles"
)

// launchContext is what POST /auth/launch records and an EHR launch takes.
type launchContext struct {
	User    *auth.Principal `json:"user"`
	Patient string          `json:"patient"`
	App     string          `json:"app,omitempty"` // the app it is for, when the launcher named one
}

// putLaunch records a launch until it expires.
func (s *Server) putLaunch(ctx context.Context, id string, c launchContext) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.cfg.State.Put(ctx, kindLaunch, id, b, s.cfg.Now().Add(s.cfg.LaunchTTL))
}

// takeLaunch returns and forgets the launch (atomically: a second use
// finds nothing); false when it is unknown, used or expired.
func (s *Server) takeLaunch(ctx context.Context, id string) (launchContext, bool, error) {
	var c launchContext
	if id == "" {
		return c, false, nil
	}
	b, err := s.cfg.State.Take(ctx, kindLaunch, id)
	if errors.Is(err, s.cfg.NotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if err := json.Unmarshal(b, &c); err != nil || c.User == nil {
		return c, false, err
	}
	return c, true, nil
}

// LaunchRequest is the body of POST /auth/launch.
type LaunchRequest struct {
	// Patient is the patient's id in ucp; or NHSNumber names them.
	Patient   string `json:"patient,omitempty"`
	NHSNumber string `json:"nhs_number,omitempty"`
	// User is the user the launcher asserts is at the keyboard.
	User LaunchUser `json:"user"`
	// ClientID, when given, is the only app that may use the launch.
	ClientID string `json:"client_id,omitempty"`
}

// LaunchUser is the launcher's assertion of its user.
type LaunchUser struct {
	ID       string `json:"id"`   // SDS user id
	Name     string `json:"name"` // as shown to people
	RoleCode string `json:"role_code"`
	Org      string `json:"org"` // ODS code
}

// LaunchResponse is the answer to POST /auth/launch.
type LaunchResponse struct {
	Launch    string `json:"launch"`
	ISS       string `json:"iss"`
	ExpiresIn int    `json:"expires_in"`
}

// launch is POST /auth/launch: a registered launcher (a system client with
// ehr_launch, calling with its Backend Services token) creates the context
// of an EHR launch. The patient is found as the asserted user, so the
// user's organisation needs an information-sharing agreement, as for
// everything else.
func (s *Server) launch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller := auth.FromContext(ctx)
	if caller == nil {
		outcome.Write(w, outcome.Errorf(outcome.Unauthenticated, "POST /auth/launch needs the launcher's Bearer token (SMART Backend Services)"))
		return
	}
	if err := s.launcher(r, caller); err != nil {
		s.refuseLaunch(w, r, audit.Login{Launcher: caller.ClientID}, err)
		return
	}
	var req LaunchRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxForm))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		outcome.Write(w, outcome.Errorf(outcome.Invalid, "the body must be a launch request: %v", err))
		return
	}
	user, err := s.assertedUser(req.User)
	if err != nil {
		s.refuseLaunch(w, r, audit.Login{Launcher: caller.ClientID, NHSNumber: req.NHSNumber}, err)
		return
	}
	uctx := auth.NewContext(ctx, user)
	patient := req.Patient
	switch {
	case (patient == "") == (req.NHSNumber == ""):
		outcome.Write(w, outcome.Errorf(outcome.Invalid, "name the patient by patient (id) or nhs_number, one of them"))
		return
	case req.NHSNumber != "":
		if !profiles.ValidNHSNumber(req.NHSNumber) {
			outcome.Write(w, outcome.Errorf(outcome.Invalid, "nhs_number %q is not a valid NHS number (10 digits, modulus 11 check digit)", req.NHSNumber))
			return
		}
		patient, err = s.cfg.Records.PatientByNHSNumber(uctx, req.NHSNumber)
	default:
		err = s.cfg.Records.Patient(uctx, patient)
	}
	if err != nil {
		s.refuseLaunch(w, r, audit.Login{Launcher: caller.ClientID, User: user, NHSNumber: req.NHSNumber}, err)
		return
	}
	if req.ClientID != "" {
		if c, err := s.cfg.Clients.Client(ctx, req.ClientID); err != nil || !c.IsApp() || c.Disabled {
			outcome.Write(w, outcome.Errorf(outcome.Invalid, "client_id %q is not a registered app", req.ClientID))
			return
		}
	}
	id := rand.Text()
	if err := s.putLaunch(ctx, id, launchContext{User: user, Patient: patient, App: req.ClientID}); err != nil {
		outcome.Write(w, err)
		return
	}
	if err := s.audit(r, audit.Login{Door: session.DoorSMARTEHR, User: user, Launcher: caller.ClientID, Patient: patient, NHSNumber: req.NHSNumber, Status: http.StatusCreated}); err != nil {
		outcome.Write(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(LaunchResponse{Launch: id, ISS: s.cfg.Audience, ExpiresIn: int(s.cfg.LaunchTTL / time.Second)})
}

// launcher checks that the caller is a registered launcher.
func (s *Server) launcher(r *http.Request, caller *auth.Principal) error {
	if !caller.IsSystem() {
		return outcome.Errorf(outcome.Forbidden, "only a registered launcher (a system client with ehr_launch) may create a launch")
	}
	c, err := s.cfg.Clients.Client(r.Context(), caller.ClientID)
	if err != nil || c == nil || c.Disabled || !c.EHRLaunch {
		return outcome.Errorf(outcome.Forbidden, "client %q is not registered as a launcher (ehr_launch)", caller.ClientID)
	}
	return nil
}

// assertedUser maps the launcher's user to a principal, through the role
// map as for CIS2 tokens. A user whose role maps to nothing is refused.
func (s *Server) assertedUser(u LaunchUser) (*auth.Principal, error) {
	if strings.TrimSpace(u.ID) == "" || strings.TrimSpace(u.Org) == "" || u.RoleCode == "" {
		return nil, outcome.Errorf(outcome.Invalid, "user needs id, role_code and org")
	}
	role := s.cfg.Roles.Role(u.RoleCode)
	if role == auth.RoleNone || role == auth.RolePatient || role == auth.RoleSystem {
		return nil, outcome.Errorf(outcome.Forbidden, "role code %q gives no staff role in ucp", u.RoleCode)
	}
	// As for a CIS2 user, the role decides: the scopes allow everything a
	// user may be granted and the policy narrows them to the role.
	scopes, _ := auth.ParseScopes("user/*.cruds")
	return &auth.Principal{Issuer: s.cfg.Issuer, Subject: u.ID, UserID: u.ID, Name: u.Name, Role: role, RoleCode: u.RoleCode, Org: u.Org, Scopes: scopes}, nil
}

// refuseLaunch answers a refused launch and records it.
func (s *Server) refuseLaunch(w http.ResponseWriter, r *http.Request, l audit.Login, err error) {
	l.Door = session.DoorSMARTEHR
	l.Status, _ = outcome.Describe(err)
	l.Reason = errText(err)
	if aerr := s.audit(r, l); aerr != nil {
		err = aerr
	}
	outcome.Write(w, err)
}
