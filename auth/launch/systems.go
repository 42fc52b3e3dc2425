package launch

import (
	"os"
	"path/filepath"
	"strings"

	"ucp/auth"
)

// systemEntry is one trusted launching system in the --launchers file.
type systemEntry struct {
	Name             string               `json:"name"`
	Issuer           string               `json:"iss"`
	ClientID         string               `json:"client_id"`
	ClientSecretFile string               `json:"client_secret_file,omitempty"`
	KeyFile          string               `json:"key_file,omitempty"`
	Roles            map[string]auth.Role `json:"roles,omitempty"`
	Scope            string               `json:"scope,omitempty"`
}

// ParseLaunchingSystems reads the GP systems trusted to launch ucp as a
// SMART app: a JSON array of {name, iss, client_id, client_secret_file or
// key_file, roles: {"R8000": "clinical", …}, scope}; name is the file's
// name (and its folder the base of relative paths), for errors. A mistake
// is refused with its line and column: a half-read entry would trust the
// wrong system or none.
func ParseLaunchingSystems(name string, data []byte) ([]*LaunchingSystem, error) {
	d := auth.NewConfigDecoder(name, data)
	if err := d.Delim('[', `an array of launching systems [{"iss": ...}]`); err != nil {
		return nil, err
	}
	var out []*LaunchingSystem
	seen := map[string]bool{}
	for d.More() {
		var e systemEntry
		off, err := d.Decode(&e)
		if err != nil {
			return nil, err
		}
		if e.Name == "" || e.Issuer == "" || e.ClientID == "" || (e.ClientSecretFile == "") == (e.KeyFile == "") {
			return nil, d.Errorf(off, "a launching system needs name, iss, client_id and one of client_secret_file or key_file")
		}
		if seen[e.Issuer] {
			return nil, d.Errorf(off, "iss %q given twice", e.Issuer)
		}
		seen[e.Issuer] = true
		ls := &LaunchingSystem{Name: e.Name, Issuer: e.Issuer, ClientID: e.ClientID, Scopes: strings.Fields(e.Scope)}
		rel := func(p string) string {
			if filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(filepath.Dir(name), p)
		}
		if e.ClientSecretFile != "" {
			b, err := os.ReadFile(rel(e.ClientSecretFile))
			if err != nil {
				return nil, d.Errorf(off, "client_secret_file: %v", err)
			}
			ls.ClientSecret = strings.TrimSpace(string(b))
		} else {
			if _, err := os.Stat(rel(e.KeyFile)); err != nil {
				return nil, d.Errorf(off, "key_file: %v", err)
			}
			if ls.Key, err = auth.LoadOrCreateSigningKey(rel(e.KeyFile), "RS384"); err != nil {
				return nil, d.Errorf(off, "key_file: %v", err)
			}
		}
		if len(e.Roles) > 0 {
			ls.Roles = &auth.RoleMap{Codes: map[string]auth.Role{}}
			for code, r := range e.Roles {
				if r != auth.RoleClinical && r != auth.RoleView && r != auth.RoleAdmin {
					return nil, d.Errorf(off, "role code %q: %q is not a staff role (clinical, view or admin)", code, r)
				}
				ls.Roles.Codes[code] = r
			}
		}
		out = append(out, ls)
	}
	if err := d.Delim(']', "the end of the array"); err != nil {
		return nil, err
	}
	return out, nil
}

// LoadLaunchingSystems reads ParseLaunchingSystems' file.
func LoadLaunchingSystems(path string) ([]*LaunchingSystem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseLaunchingSystems(path, data)
}
