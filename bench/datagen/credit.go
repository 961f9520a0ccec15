package datagen

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/mitai-dev/mitai/protocol/score"
)

// Credit describes synthetic data for joint credit scoring: a bank (the
// label holder) and outside data holders with overlapping but different
// customer sets, whose features relate to default through a planted
// logistic model.
//
// Every customer has four latent traits (financial health, income,
// stability, payment conduct; standard normal and correlated). The bank's
// features see the first three; the bureau's and the telco's also see
// conduct, so their data add to what the bank knows. Each party's features are
// noisy, skewed, clipped or counted functions of them, with realistic units.
// The label (default within a year) is drawn for the bank's customers
// from the planted model: log-odds = intercept + Σ weight·(x − center)/scale
// over all parties' features, whether or not the other parties hold that
// customer. The planted model is written per party in the score model
// format, so a joint score with it is the Bayes-optimal score.
type Credit struct {
	// Parties: the first is the bank (label holder, model intercept). Known
	// names get their schema (bank, bureau, telco, registry); others get a
	// generic one.
	Parties []string
	// Rows is the number of customers per party.
	Rows int
	// Overlap is the fraction of each party's customers that every party
	// holds; the others are each party's own.
	Overlap float64
	Seed    uint64
}

// creditFeature is one column: how it is drawn and its planted weight.
type creditFeature struct {
	name string
	// draw returns the raw value from the customer's traits and a source of
	// noise.
	draw func(t traits, r *rand.Rand) float64
	// center, scale: the population mean and standard deviation used by the
	// planted model (fixed here, so the model does not depend on the sample).
	center, scale, weight float64
	decimals              int
	// lo, hi: every drawn value is clipped into [lo, hi], the model's range.
	lo, hi float64
}

type traits struct{ health, income, stability, conduct float64 }

func clip(x, lo, hi float64) float64 { return min(max(x, lo), hi) }

func poisson(r *rand.Rand, lambda float64) float64 {
	// Knuth for small λ, normal approximation for large.
	if lambda > 30 {
		return math.Max(0, math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64()))
	}
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// creditSchemas are the known parties' features. Weights are in log-odds of
// default per standard deviation; negative means lower risk.
var creditSchemas = map[string][]creditFeature{
	"bank": {
		{"age", func(t traits, r *rand.Rand) float64 {
			return math.Round(clip(42+11*t.stability+6*r.NormFloat64(), 18, 90))
		}, 42, 12.5, -0.15, 0, 18, 90},
		{"monthly_income", func(t traits, r *rand.Rand) float64 {
			return math.Round(4200 * math.Exp(0.45*t.income+0.25*r.NormFloat64()))
		}, 4700, 2300, -0.35, 0, 500, 100000},
		{"tenure_months", func(t traits, r *rand.Rand) float64 {
			return math.Round(clip(60+40*t.stability+30*r.NormFloat64(), 0, 480))
		}, 62, 48, -0.2, 0, 0, 480},
		{"num_products", func(t traits, r *rand.Rand) float64 { return 1 + poisson(r, math.Exp(0.3*t.income+0.2*t.stability)) }, 2.05, 1.05, -0.05, 0, 1, 12},
		{"credit_limit", func(t traits, r *rand.Rand) float64 {
			return 500 * math.Round(math.Exp(9+0.5*t.income+0.3*t.health+0.2*r.NormFloat64())/500)
		}, 10200, 6500, 0.05, 0, 500, 100000},
		{"utilization", func(t traits, r *rand.Rand) float64 { return clip(0.45-0.2*t.health+0.18*r.NormFloat64(), 0, 1.2) }, 0.45, 0.26, 0.55, 3, 0, 1.2},
		{"late_payments_12m", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-1.2-0.9*t.health)) }, 0.55, 1.05, 0.45, 0, 0, 12},
		{"savings_balance", func(t traits, r *rand.Rand) float64 {
			return math.Round(math.Max(0, 8000*math.Exp(0.6*t.income+0.5*t.health+0.6*r.NormFloat64())-3000))
		}, 9000, 11000, -0.25, 0, 0, 500000},
		{"loan_amount", func(t traits, r *rand.Rand) float64 {
			return 1000 * math.Round(math.Exp(9.6+0.4*t.income+0.4*r.NormFloat64())/1000)
		}, 17000, 9000, 0.1, 0, 1000, 200000},
		{"debt_to_income", func(t traits, r *rand.Rand) float64 {
			return clip(0.32-0.09*t.health-0.05*t.income+0.08*r.NormFloat64(), 0, 1.5)
		}, 0.32, 0.12, 0.4, 3, 0, 1.5},
	},
	"bureau": {
		{"num_accounts", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(1.6+0.25*t.income+0.2*t.stability)) }, 5.4, 2.6, -0.05, 0, 0, 40},
		{"inquiries_6m", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-0.2-0.5*t.conduct)) }, 0.95, 1.2, 0.3, 0, 0, 20},
		{"delinquencies_24m", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-1.4-1.0*t.conduct)) }, 0.4, 0.95, 0.55, 0, 0, 24},
		{"oldest_account_months", func(t traits, r *rand.Rand) float64 {
			return math.Round(clip(110+55*t.stability+40*r.NormFloat64(), 1, 600))
		}, 112, 68, -0.25, 0, 1, 600},
		{"total_debt", func(t traits, r *rand.Rand) float64 {
			return math.Round(math.Exp(9.8 + 0.5*t.income - 0.3*t.health + 0.5*r.NormFloat64()))
		}, 26000, 17000, 0.15, 0, 0, 1000000},
		{"revolving_utilization", func(t traits, r *rand.Rand) float64 {
			return clip(0.4-0.12*t.health-0.12*t.conduct+0.15*r.NormFloat64(), 0, 1.5)
		}, 0.41, 0.26, 0.6, 3, 0, 1.5},
		{"public_records", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-3.2-0.8*t.health)) }, 0.06, 0.26, 0.2, 0, 0, 10},
		{"open_loans", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(0.4+0.2*t.income-0.1*t.health)) }, 1.6, 1.3, 0.1, 0, 0, 20},
		{"max_days_past_due_12m", func(t traits, r *rand.Rand) float64 {
			return 30 * poisson(r, math.Exp(-1.8-1.1*t.conduct))
		}, 8.5, 22, 0.35, 0, 0, 360},
		{"months_since_last_delinquency", func(t traits, r *rand.Rand) float64 {
			return math.Round(clip(40+25*t.conduct+20*r.NormFloat64(), 0, 120))
		}, 40, 30, -0.2, 0, 0, 120},
	},
	"telco": {
		{"tenure_months", func(t traits, r *rand.Rand) float64 {
			return math.Round(clip(38+28*t.stability+20*r.NormFloat64(), 0, 300))
		}, 41, 30, -0.2, 0, 0, 300},
		{"monthly_spend", func(t traits, r *rand.Rand) float64 {
			return math.Round(100*math.Exp(3.6+0.3*t.income+0.3*r.NormFloat64())) / 100
		}, 40, 15, -0.05, 2, 5, 500},
		{"num_lines", func(t traits, r *rand.Rand) float64 { return 1 + poisson(r, math.Exp(-0.6+0.3*t.income)) }, 1.6, 0.85, -0.05, 0, 1, 10},
		{"late_bills_12m", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-1.0-0.8*t.conduct)) }, 0.6, 0.95, 0.45, 0, 0, 12},
		{"data_usage_gb", func(t traits, r *rand.Rand) float64 {
			return math.Round(10*math.Exp(2.3+0.2*t.income+0.6*r.NormFloat64())) / 10
		}, 12, 8, 0.0, 1, 0, 500},
		{"roaming_share", func(t traits, r *rand.Rand) float64 { return clip(0.03+0.02*t.income+0.03*r.NormFloat64(), 0, 1) }, 0.035, 0.028, -0.02, 3, 0, 1},
		{"prepaid", func(t traits, r *rand.Rand) float64 {
			if r.Float64() < sigmoid(-1.1-0.7*t.stability-0.5*t.health) {
				return 1
			}
			return 0
		}, 0.27, 0.44, 0.25, 0, 0, 1},
		{"device_age_months", func(t traits, r *rand.Rand) float64 { return math.Round(clip(20-4*t.income+12*r.NormFloat64(), 0, 96)) }, 21, 12, 0.05, 0, 0, 96},
		{"contract_changes_12m", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-1.3-0.4*t.stability)) }, 0.3, 0.55, 0.15, 0, 0, 12},
		{"suspensions_24m", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-2.4-1.0*t.conduct)) }, 0.15, 0.42, 0.4, 0, 0, 24},
	},
	"registry": {
		{"household_size", func(t traits, r *rand.Rand) float64 { return 1 + poisson(r, math.Exp(0.2+0.2*t.stability)) }, 2.3, 1.2, 0.0, 0, 1, 15},
		{"years_at_address", func(t traits, r *rand.Rand) float64 {
			return math.Round(clip(7+5*t.stability+4*r.NormFloat64(), 0, 60))
		}, 7.3, 5.5, -0.2, 0, 0, 60},
		{"property_owner", func(t traits, r *rand.Rand) float64 {
			if r.Float64() < sigmoid(-0.4+0.8*t.income+0.5*t.stability) {
				return 1
			}
			return 0
		}, 0.43, 0.5, -0.2, 0, 0, 1},
		{"vehicles", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-0.2+0.3*t.income)) }, 0.9, 0.95, -0.05, 0, 0, 10},
		{"court_judgments_5y", func(t traits, r *rand.Rand) float64 { return poisson(r, math.Exp(-3.5-0.9*t.conduct)) }, 0.04, 0.2, 0.3, 0, 0, 10},
	},
}

// genericSchema serves party names without a schema: five noisy views of
// the traits.
func genericSchema(party string) []creditFeature {
	var out []creditFeature
	for j := range 5 {
		w := []float64{0.3, -0.2, 0.1, -0.15, 0.05}[j]
		out = append(out, creditFeature{
			name: fmt.Sprintf("%s_f%d", party, j),
			draw: func(t traits, r *rand.Rand) float64 {
				return math.Round(1000*(float64(j)+(0.5*t.health+0.3*t.income+0.2*t.stability)*float64(1-2*(j%2))+0.8*r.NormFloat64())) / 1000
			},
			center: float64(j), scale: 1, weight: w, decimals: 3, lo: float64(j) - 20, hi: float64(j) + 20,
		})
	}
	return out
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// creditIntercept puts the default rate near 12%; weightScale sets how
// strongly the features explain default (a joint AUC near 0.8, as real
// credit scores reach).
var (
	creditIntercept = -2.5
	weightScale     = 0.45
)

// plantedWeight is a feature's weight in the planted model (rounded to six
// decimals so that the model file holds it exactly).
func plantedWeight(f creditFeature) float64 {
	return math.Round(weightScale*f.weight*1e6) / 1e6
}

func schemaOf(party string) []creditFeature {
	if s, ok := creditSchemas[party]; ok {
		return s
	}
	return genericSchema(party)
}

// CreditTable is one party's table in memory.
type CreditTable struct {
	Party   string
	Columns []string // feature columns (the key and the label are apart)
	Keys    []string
	Data    [][]float64 // Data[j][i]: column j of row i
	Labels  []int       // the bank only: 1 = default
	Model   *score.Model
}

// CreditData is the generated data set.
type CreditData struct {
	Tables []*CreditTable
	// Common is the number of customers every party holds.
	Common int
	// DefaultRate is the bank's share of label 1.
	DefaultRate float64
}

// Generate draws the data in memory.
func (c Credit) Generate() (*CreditData, error) {
	if len(c.Parties) < 2 {
		return nil, fmt.Errorf("datagen: credit data needs at least two parties (the bank first), got %v", c.Parties)
	}
	for i, p := range c.Parties {
		if p == "" || slices.Contains(c.Parties[:i], p) {
			return nil, fmt.Errorf("datagen: party names must be distinct and non-empty: %v", c.Parties)
		}
	}
	if c.Rows < 1 || c.Overlap < 0 || c.Overlap > 1 {
		return nil, fmt.Errorf("datagen: need rows >= 1 and overlap in [0, 1], got %d and %v", c.Rows, c.Overlap)
	}
	k := len(c.Parties)
	common := int(float64(c.Rows)*c.Overlap + 0.5)
	own := c.Rows - common
	total := common + k*own
	r := rand.New(rand.NewPCG(c.Seed, 0x63726564)) // "cred"
	base := 100000000000 + r.Uint64N(800000000000)
	perm := r.Perm(total)
	// Customer u's traits, drawn in one pass so that every party sees the
	// same person; correlated: income and stability lean toward health.
	tr := make([]traits, total)
	for u := range tr {
		h := r.NormFloat64()
		tr[u] = traits{health: h, income: 0.5*h + 0.866*r.NormFloat64(), stability: 0.4*h + 0.917*r.NormFloat64(),
			conduct: 0.3*h + 0.954*r.NormFloat64()}
	}
	// Every customer's full feature vector contributes to the planted
	// log-odds; each party's features are drawn from a party-specific stream
	// so that adding a party does not change the others' data.
	data := &CreditData{Common: common}
	z := make([]float64, total)
	for u := range z {
		z[u] = creditIntercept
	}
	var bankMembers []int
	for pi, party := range c.Parties {
		schema := schemaOf(party)
		pr := rand.New(rand.NewPCG(c.Seed, uint64(pi)+1))
		members := make([]int, 0, c.Rows)
		for u := range common {
			members = append(members, u)
		}
		for u := common + pi*own; u < common+(pi+1)*own; u++ {
			members = append(members, u)
		}
		// Features for everybody (the label needs them); the table keeps the
		// members' only.
		vals := make([][]float64, len(schema))
		for j, f := range schema {
			vals[j] = make([]float64, total)
			for u := range total {
				x := f.draw(tr[u], pr)
				p := math.Pow(10, float64(f.decimals))
				x = clip(math.Round(x*p)/p, f.lo, f.hi)
				vals[j][u] = x
				z[u] += plantedWeight(f) * (x - f.center) / f.scale
			}
		}
		pr.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		t := &CreditTable{Party: party, Keys: make([]string, len(members)), Data: make([][]float64, len(schema))}
		m := &score.Model{Format: score.ModelFormat, Party: party}
		if pi == 0 {
			m.Intercept = creditIntercept
		}
		for j, f := range schema {
			t.Columns = append(t.Columns, f.name)
			t.Data[j] = make([]float64, len(members))
			lo, hi := f.lo, f.hi
			m.Features = append(m.Features, score.Feature{Column: f.name, Weight: plantedWeight(f), Center: f.center, Scale: f.scale, Min: &lo, Max: &hi})
		}
		for i, u := range members {
			t.Keys[i] = strconv.FormatUint(base+uint64(perm[u]), 10)
			for j := range schema {
				t.Data[j][i] = vals[j][u]
			}
		}
		t.Model = m
		if pi == 0 {
			bankMembers = members
		}
		data.Tables = append(data.Tables, t)
	}
	// Labels last: the planted log-odds need every party's features.
	bank := data.Tables[0]
	bank.Labels = make([]int, len(bankMembers))
	lr := rand.New(rand.NewPCG(c.Seed, 0x6c61626c)) // "labl"
	n := 0
	for i, u := range bankMembers {
		if lr.Float64() < sigmoid(z[u]) {
			bank.Labels[i] = 1
			n++
		}
	}
	data.DefaultRate = float64(n) / float64(len(bankMembers))
	return data, nil
}

// CreditFiles are what Credit.Write wrote.
type CreditFiles struct {
	// Tables and Models per party.
	Tables, Models map[string]string
	Manifest       string
	Common         int
	DefaultRate    float64
}

// Write generates the data and writes, into dir, <party>.csv (key column
// "id" first; the bank's second column is the label "default"), the planted
// model of each party as model_<party>.json, and manifest.json.
func (c Credit) Write(dir string) (*CreditFiles, error) {
	d, err := c.Generate()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f := &CreditFiles{Tables: map[string]string{}, Models: map[string]string{}, Common: d.Common, DefaultRate: d.DefaultRate}
	for _, t := range d.Tables {
		path := filepath.Join(dir, t.Party+".csv")
		header := append([]string{"id"}, t.Columns...)
		if t.Labels != nil {
			header = append([]string{"id", "default"}, t.Columns...)
		}
		schema := schemaOf(t.Party)
		rows := make([]int, len(t.Keys))
		for i := range rows {
			rows[i] = i
		}
		err := writeCSV(path, false, header, rows, func(i int) []string {
			rec := make([]string, 0, len(header))
			rec = append(rec, t.Keys[i])
			if t.Labels != nil {
				rec = append(rec, strconv.Itoa(t.Labels[i]))
			}
			for j := range t.Columns {
				rec = append(rec, strconv.FormatFloat(t.Data[j][i], 'f', schema[j].decimals, 64))
			}
			return rec
		})
		if err != nil {
			return nil, err
		}
		f.Tables[t.Party] = path
		mp := filepath.Join(dir, "model_"+t.Party+".json")
		b, err := json.MarshalIndent(t.Model, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(mp, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
		f.Models[t.Party] = mp
	}
	manifest := map[string]any{
		"generator":           "mitai datagen credit",
		"parties":             c.Parties,
		"label_holder":        c.Parties[0],
		"rows_per_party":      c.Rows,
		"overlap":             c.Overlap,
		"customers_in_common": d.Common,
		"seed":                c.Seed,
		"default_rate":        d.DefaultRate,
		"planted_model":       "log-odds of default = intercept (bank) + sum over all parties' features of weight*(x-center)/scale; see model_<party>.json",
	}
	b, _ := json.MarshalIndent(manifest, "", "  ")
	f.Manifest = filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(f.Manifest, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return f, nil
}

// Aligned returns the customers every party holds, in one order (sorted by
// key, as an alignment job would agree on), as per-party score blocks plus
// the bank's labels for those rows. It stands in for the PSI alignment in
// tests and benchmarks.
func (d *CreditData) Aligned() (blocks map[string]*score.Block, labels []int, keys []string) {
	count := map[string]int{}
	for _, t := range d.Tables {
		for _, k := range t.Keys {
			count[k]++
		}
	}
	for k, n := range count {
		if n == len(d.Tables) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	kb := make([][]byte, len(keys))
	for i, k := range keys {
		kb[i] = []byte(k)
	}
	order := score.OrderDigest(kb)
	blocks = map[string]*score.Block{}
	for ti, t := range d.Tables {
		idx := make(map[string]int, len(t.Keys))
		for i, k := range t.Keys {
			idx[k] = i
		}
		b := &score.Block{Columns: t.Columns, Data: make([][]float64, len(t.Columns)), OrderDigest: order}
		for j := range t.Columns {
			b.Data[j] = make([]float64, len(keys))
			for i, k := range keys {
				b.Data[j][i] = t.Data[j][idx[k]]
			}
		}
		if ti == 0 {
			labels = make([]int, len(keys))
			for i, k := range keys {
				labels[i] = t.Labels[idx[k]]
			}
		}
		blocks[t.Party] = b
	}
	return blocks, labels, keys
}

// PlainLogOdds is the plaintext joint log-odds of the aligned rows of blocks
// (from Aligned): the sum of every party's partial, the first party's with
// its model's intercept. It is the in-memory reference a joint score job's
// result is checked against; PlainScores is the same from the written files.
func (d *CreditData) PlainLogOdds(blocks map[string]*score.Block) ([]float64, error) {
	var z []float64
	for i, t := range d.Tables {
		u, err := t.Model.Partial(blocks[t.Party], i == 0, false)
		if err != nil {
			return nil, err
		}
		if z == nil {
			z = make([]float64, len(u))
		}
		for r := range u {
			z[r] += u[r]
		}
	}
	return z, nil
}

// PlainScores is the plaintext joint score of some customers, computed from
// the written files as one party holding every table and model would.
type PlainScores struct {
	// LogOdds is the joint log-odds of each key; First is the first
	// party's (the bank's) part alone, intercept included.
	LogOdds, First []float64
	// Labels are the bank's labels of the keys.
	Labels []int
}

// PlainScores reads the tables and models Write wrote and scores keys (each
// must be at every party) in plaintext: the reference a joint score job's
// result is checked against.
func (f *CreditFiles) PlainScores(parties []string, keys []string) (*PlainScores, error) {
	out := &PlainScores{LogOdds: make([]float64, len(keys)), First: make([]float64, len(keys)), Labels: make([]int, len(keys))}
	for pi, p := range parties {
		m, err := score.ReadModel(f.Models[p])
		if err != nil {
			return nil, err
		}
		tab, err := readCSVFile(f.Tables[p])
		if err != nil {
			return nil, err
		}
		if len(tab) == 0 {
			return nil, fmt.Errorf("datagen: %s is empty", f.Tables[p])
		}
		rows := make(map[string][]string, len(tab))
		for _, r := range tab[1:] {
			rows[r[0]] = r
		}
		cols := make([]int, len(m.Features))
		for j, ft := range m.Features {
			if cols[j] = slices.Index(tab[0], ft.Column); cols[j] < 0 {
				return nil, fmt.Errorf("datagen: %s has no column %s", f.Tables[p], ft.Column)
			}
		}
		for i, k := range keys {
			r, ok := rows[k]
			if !ok {
				return nil, fmt.Errorf("datagen: key %s is not in %s's table", k, p)
			}
			u := m.Intercept
			for j, ft := range m.Features {
				x, err := strconv.ParseFloat(r[cols[j]], 64)
				if err != nil {
					return nil, fmt.Errorf("datagen: %s, key %s: %w", f.Tables[p], k, err)
				}
				scale := ft.Scale
				if scale == 0 {
					scale = 1
				}
				u += ft.Weight * (x - ft.Center) / scale
			}
			out.LogOdds[i] += u
			if pi == 0 {
				out.First[i] = u
				if out.Labels[i], err = strconv.Atoi(r[1]); err != nil {
					return nil, fmt.Errorf("datagen: %s, key %s: label: %w", f.Tables[p], k, err)
				}
			}
		}
	}
	return out, nil
}

func readCSVFile(path string) ([][]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return csv.NewReader(fh).ReadAll()
}
