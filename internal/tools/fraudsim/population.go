package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// rankOffset shapes the ranges' skew within a country: the range of rank
// i (from 0) draws users in proportion to 1/(i+rankOffset). At 20 the
// busiest of 60 ranges draws 4 times what the quietest does, and 3.6% of
// its country: a few operator ranges carry more numbers than the rest,
// yet none is so busy that real users reach PREFIX_SEND_LIMITS (30 per
// 10 minutes; the busiest range at the defaults draws about 11).
const rankOffset = 20

// country is where legitimate users come from.
type country struct {
	Region string
	Weight float64
	Ranges []*numberRange
	cum    []float64 // cumulative weights of Ranges, the last 1
}

// population are the legitimate users' countries and ranges.
type population struct {
	countries []*country
	cum       []float64
}

// parseCountries reads "US=25,GB=15".
func parseCountries(s string) (map[string]float64, []string, error) {
	out := map[string]float64{}
	var order []string
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		w, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil || w <= 0 || !phonenumbers.GetSupportedRegions()[k] {
			return nil, nil, fmt.Errorf("-countries: %q is not REGION=weight", part)
		}
		out[k] = w
		order = append(order, k)
	}
	return out, order, nil
}

func newPopulation(o options, g *ranges, rng *rand.Rand) (*population, error) {
	weights, order, err := parseCountries(o.countries)
	if err != nil {
		return nil, err
	}
	p := &population{}
	total, heaviest := 0.0, 0.0
	for _, w := range weights {
		heaviest = max(heaviest, w)
	}
	for _, region := range order {
		n := rangeCount(o, weights[region]/heaviest, rng)
		rs, err := g.Draw(region, n)
		if err != nil {
			return nil, err
		}
		c := &country{Region: region, Weight: weights[region], Ranges: rs}
		sum := 0.0
		for i := range rs {
			sum += 1 / float64(i+rankOffset)
			c.cum = append(c.cum, sum)
		}
		for i := range c.cum {
			c.cum[i] /= sum
		}
		total += c.Weight
		p.countries = append(p.countries, c)
		p.cum = append(p.cum, total)
	}
	for i := range p.cum {
		p.cum[i] /= total
	}
	return p, nil
}

// rangeCount is how many ranges a country of relative weight rel (the
// heaviest 1) has: from -ranges-min to -ranges-max in proportion, give or
// take a tenth, so that a country's busiest range draws about as many
// users as another's.
func rangeCount(o options, rel float64, rng *rand.Rand) int {
	n := float64(o.rangesMin) + rel*float64(o.rangesMax-o.rangesMin)
	n *= 0.9 + 0.2*rng.Float64()
	return max(o.rangesMin, min(o.rangesMax, int(math.Round(n))))
}

// pick draws a user's range: a country by weight, then a range by rank.
func (p *population) pick() *numberRange {
	c := p.countries[draw(p.cum)]
	return c.Ranges[draw(c.cum)]
}

// share is the expected share of all users that range i of country c draws.
func (p *population) share(c *country, i int) float64 {
	prev, cprev := 0.0, 0.0
	ci := 0
	for j, x := range p.countries {
		if x == c {
			ci = j
		}
	}
	if ci > 0 {
		cprev = p.cum[ci-1]
	}
	if i > 0 {
		prev = c.cum[i-1]
	}
	return (p.cum[ci] - cprev) * (c.cum[i] - prev)
}

func (p *population) has(region string) bool {
	for _, c := range p.countries {
		if c.Region == region {
			return true
		}
	}
	return false
}

// draw picks an index of cumulative weights cum.
func draw(cum []float64) int {
	i := sort.SearchFloat64s(cum, rand.Float64())
	return min(i, len(cum)-1)
}
