package profiles

// Canonical bases. A deployment that renames the canonicals rewrites the JSON
// under structuredefinitions/, valuesets/ and codesystems/ and these bases
// together.
const (
	BaseURL           = "https://ucp.example.org/fhir/StructureDefinition/"
	ValueSetBaseURL   = "https://ucp.example.org/fhir/ValueSet/"
	CodeSystemBaseURL = "https://ucp.example.org/fhir/CodeSystem/"
)

// Profile canonical URLs (meta.profile values).
const (
	ProfilePatient                = BaseURL + "UCPPatient"
	ProfileOrganization           = BaseURL + "UCPOrganization"
	ProfilePractitioner           = BaseURL + "UCPPractitioner"
	ProfileCarePlan               = BaseURL + "UCPCarePlan"
	ProfileCPRDecision            = BaseURL + "UCPCPRDecision"
	ProfileTreatmentEscalation    = BaseURL + "UCPTreatmentEscalation"
	ProfilePreferredPlace         = BaseURL + "UCPPreferredPlace"
	ProfilePlaceOfDeath           = BaseURL + "UCPPlaceOfDeath"
	ProfilePrognosis              = BaseURL + "UCPPrognosis"
	ProfileADRTFlag               = BaseURL + "UCPADRTFlag"
	ProfileLPAFlag                = BaseURL + "UCPLPAFlag"
	ProfileAdvanceDocument        = BaseURL + "UCPAdvanceDocument"
	ProfileKeyContact             = BaseURL + "UCPKeyContact"
	ProfileLPAAttorney            = BaseURL + "UCPLPAAttorney"
	ProfileCareTeam               = BaseURL + "UCPCareTeam"
	ProfileConsent                = BaseURL + "UCPConsent"
	ProfileCondition              = BaseURL + "UCPCondition"
	ProfileAnticipatoryMedication = BaseURL + "UCPAnticipatoryMedication"

	// ExtensionReviewDate is the planned review date (valueDate) on a plan,
	// a CPR decision or a treatment escalation recommendation.
	ExtensionReviewDate = BaseURL + "UCPReviewDate"
	// ExtensionNHSNumberVerificationStatus is UK Core's extension on the NHS
	// number identifier (value from CodeSystemNHSNumberVerification).
	ExtensionNHSNumberVerificationStatus = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)

// QuestionnairePatientPlan is the form a patient fills in to start their own
// plan (questionnaires/patient-plan.json); its linkIds are QItem* below.
const QuestionnairePatientPlan = "https://ucp.example.org/fhir/Questionnaire/patient-plan"

// The linkIds of QuestionnairePatientPlan's items that the server reads.
const (
	QItemEmail              = "personal.email"
	QItemContact            = "contacts.person"
	QItemContactName        = "contacts.person.name"
	QItemContactRelation    = "contacts.person.relationship"
	QItemContactPhone       = "contacts.person.phone"
	QItemPlaceOfCare        = "matters.place-of-care"
	QItemPlaceOfCareDetail  = "matters.place-of-care.detail"
	QItemPlaceOfCareReason  = "matters.place-of-care.reason"
	QItemPlaceOfDeath       = "matters.place-of-death"
	QItemPlaceOfDeathDetail = "matters.place-of-death.detail"
	QItemPlaceOfDeathReason = "matters.place-of-death.reason"
	QItemResuscitation      = "ahead.resuscitation-wishes"
	QItemWhatMatters        = "matters.what-matters"
)

// OperationBaseURL is the base of our OperationDefinition canonicals.
const OperationBaseURL = "https://ucp.example.org/fhir/OperationDefinition/"

// OperationRecordDeath is Patient/{id}/$record-death.
const OperationRecordDeath = OperationBaseURL + "Patient-record-death"

// ValueSet canonical URLs.
const (
	ValueSetCarePlanType        = ValueSetBaseURL + "care-plan-type"
	ValueSetResuscitationStatus = ValueSetBaseURL + "resuscitation-status"
	ValueSetCPRDiscussion       = ValueSetBaseURL + "cpr-discussion"
	ValueSetCPRAwareness        = ValueSetBaseURL + "cpr-awareness"
	ValueSetTreatmentCeiling    = ValueSetBaseURL + "treatment-ceiling"
	ValueSetPreferredPlace      = ValueSetBaseURL + "preferred-place"
	ValueSetPreferredPlaceKind  = ValueSetBaseURL + "preferred-place-kind"
	ValueSetDeathLocation       = ValueSetBaseURL + "death-location"
	ValueSetPrognosis           = ValueSetBaseURL + "prognosis"
	ValueSetADRTFlag            = ValueSetBaseURL + "adrt-flag"
	ValueSetLPAFlag             = ValueSetBaseURL + "lpa-flag"
	ValueSetConsentToShare      = ValueSetBaseURL + "consent-to-share"
	ValueSetContactRelationship = ValueSetBaseURL + "contact-relationship"
	ValueSetAdvanceDocumentType = ValueSetBaseURL + "advance-document-type"
)

// Code systems and identifier systems.
const (
	SystemSNOMED = "http://snomed.info/sct"
	// SystemDMD is dm+d, the NHS Dictionary of Medicines and Devices.
	SystemDMD = "https://dmd.nhs.uk"
	// SystemDeathLocationType holds the NHS Data Dictionary death location
	// type codes (DeathLocation* constants).
	SystemDeathLocationType = CodeSystemBaseURL + "death-location-type"
	// SystemTreatmentCeiling holds the Ceiling* codes.
	SystemTreatmentCeiling = CodeSystemBaseURL + "treatment-ceiling"
	// SystemUCP holds our local concepts (Code* constants marked "ucp").
	SystemUCP = CodeSystemBaseURL + "ucp-concepts"

	SystemNHSNumber    = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODSCode      = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemGMCNumber    = "https://fhir.hl7.org.uk/Id/gmc-number"
	SystemNMCNumber    = "https://fhir.hl7.org.uk/Id/nmc-number"
	SystemSDSUserID    = "https://fhir.nhs.uk/Id/sds-user-id"
	SystemV2Relation   = "http://terminology.hl7.org/CodeSystem/v2-0131"
	SystemV3RoleCode   = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	SystemUKRelation   = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole"
	SystemConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope"
	// SystemNHSNumberVerification is UK Core's England NHS number
	// verification status code system ("01" = present and verified).
	SystemNHSNumberVerification = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
	SystemConditionCategory     = "http://terminology.hl7.org/CodeSystem/condition-category"
	SystemConditionClinical     = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	SystemObservationCategory   = "http://terminology.hl7.org/CodeSystem/observation-category"
)

// SNOMED CT codes (SystemSNOMED), from SCCI1580 and the NHS End of Life API.
const (
	// Plan types (UCPCarePlan category; also the NRL pointer types).
	CodeEndOfLifeCarePlan = "736373009"
	CodeAdvanceCarePlan   = "736366004"
	CodeCarePlanCategory  = "734163000" // Care plan (NRL category)

	// CPR decision.
	CodeResuscitationStatus = "304251008" // observation code
	CodeForCPR              = "450475007"
	CodeNotForCPR           = "450476008"
	// With whom the decision was discussed.
	CodeCPRDiscussedWithFamily = "713656002"
	CodeCPRDiscussedWithCarer  = "873351000000102"
	CodeCPRDiscussed           = "873341000000100"
	// Who is aware of it.
	CodeNotAwareOfDNACPR     = "845151000000104"
	CodeFamilyInformedOfCPR  = "975291000000108"
	CodeCarerInformedOfCPR   = "975311000000109"
	CodeTreatmentEscalation  = "735324008" // Treatment escalation plan
	CodeReSPECTForm          = "1382601000000107"
	CodeEndOfLifeCareSummary = "861421000000109"

	// Prognosis (UCPPrognosis).
	CodePrognosisDays         = "511401000000102"
	CodePrognosisWeeks        = "955231000000109"
	CodePrognosisMonths       = "968211000000101"
	CodePrognosisAboutAYear   = "767503006"
	CodePrognosisOverAYear    = "1413121000000106"
	CodePrognosisGSFStageA    = "845701000000104"
	CodeADRT                  = "816301000000100"
	CodeADRTLifeSustaining    = "816321000000109"
	CodeLPA                   = "816361000000101"
	CodeLPALifeSustaining     = "816381000000105"
	CodeConsentGiven          = "882921000000109"
	CodeConsentWithdrawn      = "882941000000102"
	CodeConsentBestInterests  = "882961000000101"
	CodeConsentLPA            = "883001000000106"
	CodeConsentRepresentative = "882981000000105"

	// Preferred place findings when no place can be recorded.
	CodePPDUnableToExpress     = "517111000000103"
	CodePPDNotAppropriate      = "517131000000106"
	CodePPDDeclined            = "766391000000108"
	CodePPDUndecided           = "517161000000101"
	CodePPDUsualResidence      = "819211000000102"
	CodeAnticipatoryMedsIssued = "376201000000102"
)

// NHS Data Dictionary death location type codes (SystemDeathLocationType).
const (
	DeathLocationHospital         = "10"
	DeathLocationPrivateResidence = "20"
	DeathLocationOwnHome          = "21"
	DeathLocationOtherResidence   = "22"
	DeathLocationHospice          = "30"
	DeathLocationCareHome         = "40"
	DeathLocationOther            = "50"
)

// Ceiling of treatment codes (SystemTreatmentCeiling).
const (
	CeilingFullEscalation = "full-escalation"
	CeilingWardBased      = "ward-based"
	CeilingCommunity      = "community-based"
	CeilingComfortOnly    = "comfort-only"
)

// Local concepts (SystemUCP).
const (
	CodePreferredPlaceOfCare    = "preferred-place-of-care"
	CodePreferredPlaceOfDeath   = "preferred-place-of-death"
	CodePreferenceRank          = "preference-rank"
	CodePlaceDetail             = "place-detail"
	CodeCPRDiscussion           = "cpr-discussion"
	CodeCPRAwareness            = "cpr-awareness"
	CodeReSPECTPriorityScale    = "respect-priority-scale"
	CodeTreatmentRecommendation = "treatment-recommendation"
	CodeADRTDocument            = "adrt-document"
	CodeLPADocument             = "lpa-document"
	// CodeActualPlaceOfDeath is the Observation of where the patient died
	// (Patient/{id}/$record-death); CodePreferredPlaceAchieved its derived
	// component.
	CodeActualPlaceOfDeath     = "actual-place-of-death"
	CodePreferredPlaceAchieved = "preferred-place-achieved"
)

// Relationship codes used for key contacts and attorneys.
const (
	RelationshipNextOfKin        = "N"       // SystemV2Relation
	RelationshipEmergencyContact = "C"       // SystemV2Relation
	RelationshipHealthcarePOA    = "HPOWATT" // SystemV3RoleCode
	RelationshipCarer            = "Carer"   // SystemUKRelation
)
