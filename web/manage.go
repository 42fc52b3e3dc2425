package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// historyData is the version history page's data.
type historyData struct {
	PlanID   string
	Versions []historyVersion
}

type historyVersion struct {
	Version int64
	When    string
	Status  string
	Who     string
	Changes []string
	Link    string
}

// history lists a plan's versions, newest first, with what changed between
// each and the one before, who approved it and when.
func (a *App) history(c *gin.Context, v *view) error {
	id := c.Param("id")
	ctx := c.Request.Context()
	rd := reader{a: a, ctx: ctx, r: c.Request}
	var hr *service.HistoryResult
	err := rd.do(service.Access{Interaction: "history-instance", Type: "CarePlan", ID: id}, func(ctx context.Context, fhir FHIR) error {
		var err error
		hr, err = fhir.History(ctx, service.HistoryRequest{Type: "CarePlan", ID: id, Count: 100})
		return err
	})
	if err != nil {
		return err
	}
	rd.shown(hr.Versions...)
	vs := append([]store.Version(nil), hr.Versions...)
	sort.Slice(vs, func(i, j int) bool { return vs[i].VersionID < vs[j].VersionID })
	if len(vs) == 0 {
		return outcome.Errorf(outcome.NotFound, "CarePlan/%s has no history you can see", id)
	}
	// Who approved each version: its Provenance.
	approvers := map[string]string{}
	provs, err := rd.search("Provenance", url.Values{"target": {"CarePlan/" + id}, "_count": {"100"}})
	if err != nil {
		return err
	}
	for _, p := range provs {
		who := ""
		for _, ag := range objs(p, "agent") {
			who = refDisplay(obj(ag, "who"))
		}
		for _, t := range objs(p, "target") {
			approvers[str(t, "reference")] = who
		}
	}
	d := &historyData{PlanID: id}
	var prev map[string]any
	var patient string
	for _, ver := range vs {
		hv := historyVersion{Version: ver.VersionID, When: longDate(ver.LastUpdated.Format("2006-01-02T15:04:05Z07:00"))}
		if ver.Deleted {
			hv.Status = "Deleted"
			d.Versions = append(d.Versions, hv)
			prev = nil
			continue
		}
		res, err := resource.Parse(ver.JSON)
		if err != nil {
			return err
		}
		patient = resource.ParseReference(str(obj(res, "subject"), "reference")).ID
		hv.Status = statusWords(str(res, "status"))
		if who, ok := approvers["CarePlan/"+id+"/_history/"+strconv.FormatInt(ver.VersionID, 10)]; ok {
			hv.Who = "Approved by " + who
		} else {
			hv.Who = "Saved (who saved a draft is in the audit trail)"
		}
		hv.Changes = changes(prev, res)
		hv.Link = Prefix + "/patients/" + url.PathEscape(patient) + "?plan=" + url.QueryEscape(id) + "&version=" + strconv.FormatInt(ver.VersionID, 10)
		d.Versions = append(d.Versions, hv)
		prev = res
	}
	for i, j := 0, len(d.Versions)-1; i < j; i, j = i+1, j-1 {
		d.Versions[i], d.Versions[j] = d.Versions[j], d.Versions[i]
	}
	if patient != "" {
		if b, _, err := rd.banner(patient); err == nil {
			v.Patient = b
		}
	}
	v.Title = "Version history"
	v.Data = d
	a.render(c, "history", v)
	return nil
}

// changeLabels names the plan elements a person changes.
var changeLabels = map[string]string{
	"status": "Status", "title": "Title", "description": "Description", "activity": "What to do if the patient deteriorates",
	"addresses": "Medical background", "supportingInfo": "Sections", "careTeam": "Care team", "note": "Notes",
	"extension": "Review date", "period": "Period", "author": "Author",
}

// changes says in words what changed from prev to cur.
func changes(prev, cur map[string]any) []string {
	if prev == nil {
		return []string{"Plan created"}
	}
	var out []string
	if a, b := str(prev, "status"), str(cur, "status"); a != b {
		out = append(out, "Status: "+statusWords(a)+" → "+statusWords(b))
	}
	for _, k := range []string{"addresses", "supportingInfo", "careTeam"} {
		was, now := refSet(prev, k), refSet(cur, k)
		for r := range now {
			if !was[r] {
				out = append(out, changeLabels[k]+": added "+r)
			}
		}
		for r := range was {
			if !now[r] {
				out = append(out, changeLabels[k]+": removed "+r)
			}
		}
	}
	keys := make([]string, 0, len(changeLabels))
	for k := range changeLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "status", "addresses", "supportingInfo", "careTeam":
			continue
		}
		if sameJSON(prev[k], cur[k]) {
			continue
		}
		if k == "note" {
			// A note added says why and by whom (a revocation's reason).
			was := len(objs(prev, "note"))
			for i, n := range objs(cur, "note") {
				if i >= was {
					by := ""
					if a := obj(n, "authorReference"); a != nil {
						by = " (" + refDisplay(a) + ")"
					} else if a := str(n, "authorString"); a != "" {
						by = " (" + a + ")"
					}
					out = append(out, "Note: "+str(n, "text")+by)
				}
			}
			continue
		}
		out = append(out, changeLabels[k]+" changed")
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.HasPrefix(out[i], "Status") && !strings.HasPrefix(out[j], "Status")
	})
	if len(out) == 0 {
		out = []string{"No change to the plan's content"}
	}
	return out
}

func refSet(res map[string]any, k string) map[string]bool {
	out := map[string]bool{}
	for _, r := range objs(res, k) {
		out[str(r, "reference")] = true
	}
	return out
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// statusActions maps a form's action to the plan status it sets.
var statusActions = map[string]string{
	"approve": "active", "revoke": "revoked", "complete": "completed", "entered-in-error": "entered-in-error",
}

// changeStatus approves, revokes, completes or marks a plan entered in
// error: a patch of the plan's status through the service, whose care-plan
// rules decide (only clinicians approve; approval needs the mandatory
// sections and consent, each missing one named).
func (a *App) changeStatus(c *gin.Context, v *view) error {
	id := c.Param("id")
	action := c.PostForm("action")
	status, ok := statusActions[action]
	if !ok {
		return outcome.Errorf(outcome.Invalid, "unknown action %q", action)
	}
	reason := strings.TrimSpace(c.PostForm("reason"))
	if status != "active" && reason == "" {
		return outcome.Errorf(outcome.Invalid, "say why the plan is being %s", map[string]string{
			"revoked": "revoked", "completed": "completed", "entered-in-error": "marked as entered in error"}[status])
	}
	ifMatch, err := strconv.ParseInt(c.PostForm("version"), 10, 64)
	if err != nil || ifMatch < 1 {
		return outcome.Errorf(outcome.Invalid, "the form does not say which version of the plan it changes")
	}
	when := a.cfg.Now().UTC().Format("2006-01-02T15:04:05Z")
	ctx := c.Request.Context()
	var patient string
	patch := func(cur *store.Version) (map[string]any, error) {
		res, err := resource.Parse(cur.JSON)
		if err != nil {
			return nil, err
		}
		patient = resource.ParseReference(str(obj(res, "subject"), "reference")).ID
		res["status"] = status
		if status == "revoked" || status == "completed" {
			// The plan records when it ended (ucp-cp-2).
			period, _ := res["period"].(map[string]any)
			if period == nil {
				period = map[string]any{}
			}
			period["end"] = when
			res["period"] = period
		}
		if reason != "" {
			notes, _ := res["note"].([]any)
			note := map[string]any{"time": when, "text": statusWords(status) + ": " + reason}
			// Who ended the plan, in the plan itself: the history shows it.
			if pr := auth.FromContext(ctx); pr != nil {
				note["authorReference"] = me(pr)
			}
			res["note"] = append(notes, note)
		}
		return res, nil
	}
	err = a.audited(ctx, c.Request, "", service.Access{Interaction: "patch", Type: "CarePlan", ID: id}, func(ctx context.Context, fhir FHIR) error {
		_, err := fhir.BatchEntry(ctx, &service.Entry{Method: http.MethodPatch, Type: "CarePlan", ID: id, Patch: patch, IfMatch: ifMatch})
		return err
	})
	if err != nil {
		if outcome.KindOf(err) == outcome.PreconditionFailed {
			return outcome.Errorf(outcome.Conflict, "someone else changed the plan while you were looking at it: open it again and repeat your change")
		}
		return err
	}
	c.Redirect(http.StatusSeeOther, Prefix+"/patients/"+url.PathEscape(patient)+"?plan="+url.QueryEscape(id))
	return nil
}
