package synth

import "ucp/profiles"

// The word lists below are what makes the data look like London's: names
// across the communities that live there, real street and borough names,
// postcode districts that belong to those boroughs. Nothing here identifies
// anyone: the people are assembled at random, NHS numbers are in the 999
// test range and telephone numbers in Ofcom's drama ranges.

// A nameGroup is a naming tradition, so that given and family names in one
// person go together.
type nameGroup struct {
	weight        int
	female, male  []string
	family        []string
	language      string // BCP 47 code of a main language other than English, sometimes recorded
	languageShare int    // percent of the group needing an interpreter
}

var nameGroups = []nameGroup{
	{40, []string{"Margaret", "Patricia", "Barbara", "Jean", "Joan", "Sheila", "Doreen", "Irene", "Maureen", "Pauline", "Susan", "Elizabeth", "Dorothy", "Valerie", "Brenda", "Gillian", "Ann", "Christine", "Eileen", "June"},
		[]string{"John", "David", "Peter", "Michael", "Brian", "Kenneth", "Roy", "Alan", "Derek", "Raymond", "Terence", "Colin", "Geoffrey", "Anthony", "Keith", "Ronald", "Dennis", "Stanley", "Graham", "Robert"},
		[]string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Hughes", "Edwards", "Turner", "Harris", "Cooper", "Ward", "Morris", "King", "Baker", "Harrison"}, "", 0},
	{6, []string{"Bridget", "Mary", "Kathleen", "Siobhan", "Nora", "Teresa", "Philomena", "Eileen"},
		[]string{"Patrick", "Sean", "Michael", "Declan", "Liam", "Brendan", "Kevin", "Seamus"},
		[]string{"Murphy", "Kelly", "O'Sullivan", "Walsh", "O'Brien", "Byrne", "Ryan", "O'Connor", "Doyle", "McCarthy", "Gallagher", "Fitzgerald"}, "", 0},
	{4, []string{"Fiona", "Morag", "Isla", "Catriona", "Ailsa", "Rhiannon", "Gwen", "Bethan"},
		[]string{"Angus", "Hamish", "Alasdair", "Callum", "Gareth", "Rhys", "Dafydd", "Iain"},
		[]string{"MacDonald", "Campbell", "Stewart", "Robertson", "Fraser", "Morgan", "Price", "Lloyd", "Pritchard", "Macleod"}, "", 0},
	{9, []string{"Beverley", "Hyacinth", "Gloria", "Marcia", "Pearline", "Icilda", "Merle", "Claudette", "Veronica", "Sonia"},
		[]string{"Winston", "Delroy", "Clinton", "Errol", "Lloyd", "Everton", "Leroy", "Desmond", "Hopeton", "Carlton"},
		[]string{"Campbell", "Brown", "Francis", "Gordon", "Henry", "Grant", "Reid", "Bailey", "Samuels", "Clarke", "Facey", "McKenzie"}, "", 0},
	{7, []string{"Adaeze", "Ngozi", "Folasade", "Abena", "Ama", "Chiamaka", "Yetunde", "Funmilayo", "Efua", "Blessing"},
		[]string{"Oluwaseun", "Chidi", "Kwame", "Kofi", "Emeka", "Babatunde", "Olusegun", "Yaw", "Ikenna", "Tunde"},
		[]string{"Okafor", "Adeyemi", "Mensah", "Okonkwo", "Boateng", "Adebayo", "Owusu", "Eze", "Asante", "Oladipo", "Nwosu", "Appiah"}, "yo", 5},
	{8, []string{"Priya", "Sunita", "Kamala", "Harjit", "Manjit", "Parveen", "Rekha", "Savita", "Gurpreet", "Nirmala"},
		[]string{"Rajesh", "Sanjay", "Harjinder", "Ashok", "Mohinder", "Vijay", "Dilip", "Surinder", "Ramesh", "Kuldip"},
		[]string{"Patel", "Shah", "Singh", "Kaur", "Sharma", "Gupta", "Mistry", "Sandhu", "Gill", "Chauhan", "Parmar", "Desai"}, "gu", 15},
	{6, []string{"Rahima", "Nasima", "Shamima", "Fatima", "Aisha", "Razia", "Halima", "Rukhsana", "Yasmin", "Shahida"},
		[]string{"Abdul", "Mohammed", "Shahid", "Tariq", "Abdur", "Rashid", "Anwar", "Imran", "Nazrul", "Jamal"},
		[]string{"Begum", "Uddin", "Miah", "Ahmed", "Rahman", "Khan", "Hussain", "Ali", "Islam", "Chowdhury", "Hossain", "Akhtar"}, "bn", 30},
	{3, []string{"Hodan", "Amina", "Faduma", "Sahra", "Ifrah"},
		[]string{"Abdirahman", "Mohamed", "Hassan", "Abdullahi", "Omar"},
		[]string{"Farah", "Warsame", "Abdi", "Jama", "Osman", "Hirsi"}, "so", 35},
	{4, []string{"Krystyna", "Halina", "Danuta", "Elzbieta", "Wanda", "Jadwiga"},
		[]string{"Tomasz", "Zbigniew", "Stanislaw", "Jerzy", "Andrzej", "Kazimierz"},
		[]string{"Kowalski", "Nowak", "Wisniewski", "Wojcik", "Kaminski", "Lewandowski", "Zielinski"}, "pl", 25},
	{2, []string{"Androulla", "Maria", "Eleni", "Despina", "Chrystalla"},
		[]string{"Andreas", "Costas", "Georgios", "Panayiotis", "Michalis"},
		[]string{"Georgiou", "Christodoulou", "Charalambous", "Ioannou", "Constantinou", "Demetriou"}, "el", 20},
	{3, []string{"Ayse", "Emine", "Fatma", "Hatice", "Zeynep"},
		[]string{"Mehmet", "Mustafa", "Huseyin", "Ibrahim", "Ahmet"},
		[]string{"Yilmaz", "Demir", "Kaya", "Ozturk", "Celik", "Sahin"}, "tr", 30},
	{3, []string{"Mei", "Lai Ching", "Siu Wah", "Wai Han", "Xiu Ying"},
		[]string{"Wing", "Kwok Wai", "Chi Keung", "Wei", "Ming"},
		[]string{"Chan", "Wong", "Li", "Cheung", "Lam", "Ho", "Ng", "Leung"}, "zh", 40},
	{3, []string{"Miriam", "Ruth", "Esther", "Rivka", "Hannah", "Naomi"},
		[]string{"Harold", "Bernard", "Sidney", "Maurice", "Lionel", "Solomon"},
		[]string{"Cohen", "Levy", "Goldberg", "Rosenberg", "Shapiro", "Jacobs", "Klein"}, "", 0},
	{3, []string{"Maria da Graca", "Fernanda", "Rosa", "Conceicao", "Lucia"},
		[]string{"Joao", "Manuel", "Antonio", "Jose", "Fernando"},
		[]string{"Silva", "Santos", "Ferreira", "Pereira", "Rodrigues", "Gomes"}, "pt", 30},
}

// A borough with the postcode districts that lie (mostly) in it and ODS-style
// practice code prefixes for its GP practices.
type borough struct {
	name      string
	districts []string
	odsPrefix string
}

var boroughs = []borough{
	{"Lambeth", []string{"SE11", "SE27", "SW2", "SW4", "SW8", "SW9", "SW16"}, "G85"},
	{"Southwark", []string{"SE1", "SE5", "SE15", "SE16", "SE22"}, "G85"},
	{"Lewisham", []string{"SE4", "SE6", "SE13", "SE14", "SE23"}, "G85"},
	{"Greenwich", []string{"SE3", "SE7", "SE9", "SE10", "SE18"}, "G83"},
	{"Tower Hamlets", []string{"E1", "E2", "E3", "E14"}, "F84"},
	{"Hackney", []string{"E5", "E8", "E9", "N16"}, "F84"},
	{"Newham", []string{"E6", "E7", "E12", "E13", "E15", "E16"}, "F84"},
	{"Waltham Forest", []string{"E4", "E10", "E11", "E17"}, "F86"},
	{"Redbridge", []string{"IG1", "IG2", "IG4", "IG6"}, "F86"},
	{"Havering", []string{"RM1", "RM3", "RM7", "RM11"}, "F82"},
	{"Camden", []string{"NW1", "NW3", "NW5", "NW6", "WC1"}, "F83"},
	{"Islington", []string{"N1", "N4", "N5", "N7", "N19"}, "F83"},
	{"Haringey", []string{"N8", "N15", "N17", "N22"}, "F85"},
	{"Enfield", []string{"EN1", "EN2", "N9", "N13", "N21"}, "F85"},
	{"Barnet", []string{"N3", "N12", "N20", "NW4", "NW7", "EN5"}, "E83"},
	{"Westminster", []string{"W1", "W2", "W9", "SW1"}, "E87"},
	{"Kensington and Chelsea", []string{"SW3", "SW5", "SW10", "W8", "W10", "W11"}, "E87"},
	{"Hammersmith and Fulham", []string{"W6", "W12", "W14", "SW6"}, "E85"},
	{"Ealing", []string{"W5", "W7", "W13", "UB1", "UB6"}, "E85"},
	{"Brent", []string{"NW2", "NW10", "HA0", "HA9"}, "E84"},
	{"Harrow", []string{"HA1", "HA2", "HA3", "HA5"}, "E84"},
	{"Hillingdon", []string{"UB3", "UB8", "UB10", "HA4"}, "E86"},
	{"Hounslow", []string{"TW3", "TW4", "TW5", "TW7"}, "E86"},
	{"Wandsworth", []string{"SW11", "SW12", "SW15", "SW17", "SW18"}, "H85"},
	{"Merton", []string{"SW19", "SW20", "CR4", "SM4"}, "H85"},
	{"Sutton", []string{"SM1", "SM2", "SM3", "SM5"}, "H85"},
	{"Kingston upon Thames", []string{"KT1", "KT2", "KT3", "KT6"}, "H84"},
	{"Richmond upon Thames", []string{"TW1", "TW2", "TW9", "TW10", "SW14"}, "H84"},
	{"Croydon", []string{"CR0", "CR2", "CR7", "SE25"}, "H83"},
	{"Bromley", []string{"BR1", "BR2", "BR3", "BR6"}, "G84"},
	{"Bexley", []string{"DA5", "DA6", "DA7", "DA15"}, "G84"},
}

var streets = []string{"High Street", "Church Road", "Coldharbour Lane", "Brixton Hill", "Railton Road", "Peckham Rye", "Lordship Lane",
	"Rye Lane", "Lewisham Way", "Brockley Rise", "Trafalgar Road", "Woolwich Road", "Commercial Road", "Mile End Road", "Roman Road",
	"Bethnal Green Road", "Mare Street", "Stoke Newington Church Street", "Green Street", "Barking Road", "Romford Road", "Hoe Street",
	"Forest Road", "Cranbrook Road", "Station Road", "Kentish Town Road", "Fortess Road", "Holloway Road", "Blackstock Road",
	"Green Lanes", "West Green Road", "Fore Street", "Ballards Lane", "Watling Avenue", "Harrow Road", "Edgware Road", "Ladbroke Grove",
	"Portobello Road", "King Street", "Uxbridge Road", "Northfield Avenue", "Ealing Road", "Kenton Road", "Northolt Road",
	"Bath Road", "Lavender Hill", "Tooting High Street", "Garratt Lane", "Merton Road", "Cheam Road", "London Road", "Brigstock Road",
	"Widmore Road", "Broadway", "Victoria Road", "Albert Road", "Queens Road", "Park Road", "Manor Road", "Grove Road", "Springfield Road",
	"Mayall Road", "Tulse Hill", "Acre Lane", "Stockwell Park Road", "Camberwell Grove", "Evelina Road", "Ladywell Road", "Shooters Hill Road",
	"Cable Street", "Wapping Lane", "Dalston Lane", "Amhurst Road", "Plashet Grove", "Wanstead Park Road", "Chingford Mount Road"}

var practiceSuffixes = []string{"Medical Centre", "Surgery", "Health Centre", "Group Practice", "Medical Practice", "Family Practice"}

// postcode inward letters: the Royal Mail never uses C, I, K, M, O or V there.
const inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

// A diagnosis that leads to an urgent care plan, with its SNOMED CT code and
// how likely it is to be a plan's primary diagnosis.
type diagnosis struct {
	weight   int
	code     string
	display  string
	cancer   bool
	renal    bool // morphine is avoided in renal failure
	dementia bool // capacity to consent is often lost
	group    string
}

var diagnoses = []diagnosis{
	{9, "363358000", "Malignant tumor of lung", true, false, false, "cancer"},
	{6, "254837009", "Malignant neoplasm of breast", true, false, false, "cancer"},
	{5, "363406005", "Malignant tumor of colon", true, false, false, "cancer"},
	{5, "399068003", "Malignant tumor of prostate", true, false, false, "cancer"},
	{4, "363418001", "Malignant tumor of pancreas", true, false, false, "cancer"},
	{2, "363349007", "Malignant tumor of stomach", true, false, false, "cancer"},
	{2, "363443007", "Malignant tumor of ovary", true, false, false, "cancer"},
	{2, "363346000", "Malignant neoplastic disease", true, false, false, "cancer"},
	{12, "84114007", "Heart failure", false, false, false, "organ-failure"},
	{10, "13645005", "Chronic obstructive lung disease", false, false, false, "organ-failure"},
	{9, "52448006", "Dementia", false, false, true, "dementia-frailty"},
	{4, "26929004", "Alzheimer's disease", false, false, true, "dementia-frailty"},
	{10, "248279007", "Frailty", false, false, false, "dementia-frailty"},
	{3, "37340000", "Motor neuron disease", false, false, false, "neurological"},
	{5, "433146000", "Chronic kidney disease stage 5", false, true, false, "organ-failure"},
	{3, "49049000", "Parkinson's disease", false, false, false, "neurological"},
	{3, "230690007", "Cerebrovascular accident", false, false, false, "neurological"},
	{2, "700250006", "Idiopathic pulmonary fibrosis", false, false, false, "organ-failure"},
	{2, "19943007", "Cirrhosis of liver", false, false, false, "organ-failure"},
}

var comorbidities = []diagnosis{
	{5, "44054006", "Diabetes mellitus type 2", false, false, false, "other"},
	{6, "38341003", "Hypertensive disorder, systemic arterial", false, false, false, "other"},
	{4, "49436004", "Atrial fibrillation", false, false, false, "other"},
	{3, "396275006", "Osteoarthritis", false, false, false, "other"},
	{2, "709044004", "Chronic kidney disease", false, false, false, "other"},
	{2, "35489007", "Depressive disorder", false, false, false, "other"},
}

// Anticipatory ("just in case") medicines. dm+d codes here are synthetic:
// shaped like dm+d VMP identifiers but not looked up, so never prescribe
// from this data.
type medicine struct {
	code, display, dose string
}

var (
	opioid       = medicine{"36128511000001100", "Morphine sulfate 10mg/1ml solution for injection ampoules", "2.5 to 5 mg subcutaneously every 2 to 4 hours as needed for pain or breathlessness"}
	opioidRenal  = medicine{"36129011000001107", "Oxycodone 10mg/1ml solution for injection ampoules", "1 to 2 mg subcutaneously every 2 to 4 hours as needed for pain or breathlessness (renal impairment)"}
	midazolam    = medicine{"36130111000001105", "Midazolam 10mg/2ml solution for injection ampoules", "2.5 to 5 mg subcutaneously every 2 to 4 hours as needed for agitation or distress"}
	levomeprom   = medicine{"36131211000001103", "Levomepromazine 25mg/1ml solution for injection ampoules", "6.25 mg subcutaneously every 4 to 6 hours as needed for nausea and vomiting"}
	haloperidol  = medicine{"36132311000001108", "Haloperidol 5mg/1ml solution for injection ampoules", "0.5 to 1 mg subcutaneously every 4 hours as needed for nausea, vomiting or delirium"}
	glycopyrr    = medicine{"36133411000001101", "Glycopyrronium bromide 200micrograms/1ml solution for injection ampoules", "200 micrograms subcutaneously every 4 hours as needed for respiratory secretions"}
	hyoscineButy = medicine{"36134511000001106", "Hyoscine butylbromide 20mg/1ml solution for injection ampoules", "20 mg subcutaneously every 4 hours as needed for respiratory secretions or colic"}
)

// Deterioration advice: what the plan tells a crew at 3 a.m.
var deteriorationAdvice = []string{
	"If breathless or in pain: give subcutaneous medicines from the anticipatory medicines box and call the community palliative care team. Do not convey to hospital unless symptoms cannot be controlled at home.",
	"If agitated or distressed: exclude urinary retention and constipation, give subcutaneous midazolam, and contact the hospice 24-hour advice line.",
	"If unresponsive and breathing: keep comfortable at home; family are aware this is expected. Call the GP or out-of-hours service, not 999, unless the family ask.",
	"If chest infection suspected: oral antibiotics at home are appropriate. Admission to hospital only if the patient or family request it.",
	"If a fall with injury: hospital assessment is appropriate for fractures; return home as soon as possible.",
	"If seizure: buccal midazolam as prescribed, then call the palliative care team.",
	"If bleeding: use dark towels, give midazolam for distress, stay with the patient and call the district nurses.",
	"If acute confusion: look for reversible causes (infection, retention, medicines); manage at the care home if possible.",
}

var wishes = []string{
	"To stay at home with my family around me.",
	"To have my dog with me.",
	"To be free of pain even if it makes me sleepy.",
	"To see my grandchildren as often as possible.",
	"To have my faith respected; please call the imam/priest/rabbi when the time comes.",
	"Not to go back into hospital.",
	"To die in the hospice where I was looked after before.",
	"To have music playing.",
	"To be kept clean and comfortable and spoken to even if I cannot answer.",
}

var treatmentRecommendations = []string{
	"Oral antibiotics at home for infection; not for IV antibiotics.",
	"Not for non-invasive ventilation or intubation.",
	"For hospital admission for reversible causes only.",
	"Not for artificial feeding.",
	"For IV fluids and antibiotics on a ward; not for intensive care.",
	"Subcutaneous fluids at home may be considered.",
}

var prognoses = []struct {
	weight        int
	code, display string
}{
	{5, profiles.CodePrognosisDays, "Last days of life"},
	{15, profiles.CodePrognosisWeeks, "Last weeks of life"},
	{40, profiles.CodePrognosisMonths, "Last months of life"},
	{25, profiles.CodePrognosisAboutAYear, "Limited life expectancy of approximately one year"},
	{10, profiles.CodePrognosisOverAYear, "Limited life expectancy of more than one year"},
	{5, profiles.CodePrognosisGSFStageA, "Gold standards framework prognostic indicator stage A (blue) - year plus prognosis"},
}

type place struct {
	weight              int
	system, code, label string
}

var places = []place{
	{44, profiles.SystemDeathLocationType, profiles.DeathLocationOwnHome, "Patient's own home"},
	{20, profiles.SystemDeathLocationType, profiles.DeathLocationHospice, "Hospice"},
	{12, profiles.SystemDeathLocationType, profiles.DeathLocationCareHome, "Care home"},
	{7, profiles.SystemDeathLocationType, profiles.DeathLocationHospital, "Hospital"},
	{3, profiles.SystemDeathLocationType, profiles.DeathLocationOtherResidence, "Other private residence"},
	{2, profiles.SystemDeathLocationType, profiles.DeathLocationOther, "Other"},
	{3, profiles.SystemSNOMED, profiles.CodePPDUnableToExpress, "Preferred place of death: patient unable to express preference"},
	{2, profiles.SystemSNOMED, profiles.CodePPDNotAppropriate, "Preferred place of death: discussion not appropriate"},
	{3, profiles.SystemSNOMED, profiles.CodePPDDeclined, "Preferred place of death: patient declined discussion"},
	{4, profiles.SystemSNOMED, profiles.CodePPDUndecided, "Preferred place of death: patient undecided"},
}

var hospices = []string{"St Christopher's Hospice, Sydenham", "St Joseph's Hospice, Hackney", "Trinity Hospice, Clapham", "North London Hospice, Finchley",
	"Royal Trinity Hospice, Clapham Common", "Marie Curie Hospice, Hampstead", "St John's Hospice, St John's Wood", "Greenwich and Bexley Community Hospice",
	"Princess Alice Hospice, Esher", "Harlington Hospice, Hayes", "Saint Francis Hospice, Havering-atte-Bower", "Royal Marsden Hospital, Chelsea"}

// relationship is a key contact's relationship to the patient.
type relationship struct {
	weight              int
	system, code, label string
	female              int // 1 female, 0 male, -1 either
}

var relationships = []relationship{
	{18, profiles.SystemV3RoleCode, "DAU", "natural daughter", 1},
	{14, profiles.SystemV3RoleCode, "SON", "natural son", 0},
	{16, profiles.SystemV3RoleCode, "SPS", "spouse", -1},
	{4, profiles.SystemV3RoleCode, "DOMPART", "domestic partner", -1},
	{5, profiles.SystemV3RoleCode, "SIS", "sister", 1},
	{4, profiles.SystemV3RoleCode, "BRO", "brother", 0},
	{3, profiles.SystemV3RoleCode, "NIECE", "niece", 1},
	{2, profiles.SystemV3RoleCode, "NEPHEW", "nephew", 0},
	{3, profiles.SystemV3RoleCode, "GRNDDAU", "granddaughter", 1},
	{3, profiles.SystemV3RoleCode, "FRND", "unrelated friend", -1},
	{2, profiles.SystemV3RoleCode, "NBOR", "neighbor", -1},
}

var languageNames = map[string]string{"yo": "Yoruba", "gu": "Gujarati", "bn": "Bengali", "so": "Somali", "pl": "Polish",
	"el": "Greek", "tr": "Turkish", "zh": "Chinese", "pt": "Portuguese"}
