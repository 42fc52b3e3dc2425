package rest

import "ucp/fhir/service"

// The Bundle shapes this server authors are the service's (it builds
// $everything's searchset too); the short names keep the encoders readable.
type (
	bundle        = service.Bundle
	bundleMeta    = service.BundleMeta
	bundleLink    = service.BundleLink
	bundleEntry   = service.BundleEntry
	entrySearch   = service.BundleSearch
	entryRequest  = service.BundleRequest
	entryResponse = service.BundleResponse
)

// marshalBundle encodes b (see service.MarshalBundle).
func marshalBundle(b *bundle) []byte { return service.MarshalBundle(b) }
