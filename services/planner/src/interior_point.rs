//! An interior-point solver for block-angular linear programs: the LP relaxations of the hourly
//! fleet model, with their duals.
//!
//! The fleet model's rows fall into hour blocks (the demand and capacity rows of one bucket) and
//! a few linking rows (deferral windows, N+1 spares, site power, budget, node limits). Its
//! columns are local to one block (tokens of a workload group on an option in an hour), touch only
//! linking rows, or are global (node counts, whose capacity appears in every hour). The solver
//! runs Mehrotra's predictor–corrector method on the normal equations `A Θ Aᵀ Δy = r` and solves
//! them block by block: each block's small dense matrix is factored on its own, and the linking
//! rows and global columns meet in one small dense Schur complement. An iteration costs about
//! `blocks × (rows per block)³` rather than a sparse factorization of the whole model.
//!
//! It exists for the duals: microlp, the default MIP backend, reports none, and the planner needs
//! them to price options it has not modelled yet and to prove which options no plan within the
//! gap can use (see [`crate::solve`]). Callers treat the result as advice: every bound they draw
//! from it is recomputed from the duals alone, so an inexact solve can weaken a bound but never
//! make it wrong.

// The method updates many parallel vectors (x, s, z, w, residuals, directions) index by index;
// an index loop reads more plainly than zips of six iterators.
#![allow(clippy::needless_range_loop)]

use std::time::Instant;

/// The direction of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// `a·x ≤ rhs`; its dual is ≤ 0.
    AtMost,
    /// `a·x = rhs`; its dual is free.
    Equal,
    /// `a·x ≥ rhs`; its dual is ≥ 0.
    AtLeast,
}

/// One row: sense, right-hand side and the block it belongs to (`None`: a linking row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Direction.
    pub sense: Sense,
    /// Right-hand side.
    pub rhs: f64,
    /// Block (any id; rows of one block are factored together), or `None` for a linking row.
    pub block: Option<usize>,
}

/// `min cost·x` subject to the rows and `0 ≤ x ≤ upper`, stored by column.
#[derive(Debug, Clone, Default)]
pub struct LinearProgram {
    /// Rows.
    pub rows: Vec<Row>,
    /// Cost of each column.
    pub cost: Vec<f64>,
    /// Upper bound of each column (`f64::INFINITY` for none); every lower bound is 0.
    pub upper: Vec<f64>,
    /// Each column's nonzero entries: (row, coefficient).
    pub entries: Vec<Vec<(usize, f64)>>,
}

impl LinearProgram {
    /// Adds a row and returns its index.
    pub fn add_row(&mut self, sense: Sense, rhs: f64, block: Option<usize>) -> usize {
        self.rows.push(Row { sense, rhs, block });
        self.rows.len() - 1
    }

    /// Adds a column and returns its index.
    pub fn add_column(&mut self, cost: f64, upper: f64, entries: Vec<(usize, f64)>) -> usize {
        self.cost.push(cost);
        self.upper.push(upper);
        self.entries.push(entries);
        self.cost.len() - 1
    }
}

/// What a solve found.
#[derive(Debug, Clone)]
pub struct LpSolution {
    /// Column values.
    pub x: Vec<f64>,
    /// Row duals, signed as [`Sense`] says: `cost − Aᵀ·duals ≥ 0` where a column sits at 0.
    pub duals: Vec<f64>,
    /// `cost·x`.
    pub objective: f64,
    /// The dual objective `rhs·duals − upper·w` (equal to `objective` at optimality).
    pub dual_objective: f64,
    /// Iterations taken.
    pub iterations: usize,
    /// Whether the tolerances were met (otherwise the last, best iterate).
    pub converged: bool,
}

/// Why a solve returned nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum LpFailure {
    /// The deadline passed.
    TimeLimit,
    /// A row with no entries asks for a nonzero value, or the iterates diverged.
    Infeasible(String),
}

/// Relative primal and dual infeasibility at which a solve stops.
const FEASIBILITY_TOLERANCE: f64 = 1e-8;
/// Relative duality gap at which a solve stops.
const GAP_TOLERANCE: f64 = 1e-8;
/// Iterations before giving up with the best iterate.
const MAX_ITERATIONS: usize = 120;
/// Iterations without improvement before giving up with the best iterate.
const STALL_ITERATIONS: usize = 4;
/// Merit (largest relative residual or gap) below which a stall ends the solve.
const STALL_MERIT: f64 = 1e-6;
/// Iterative refinement steps per Newton solve, at most.
const REFINEMENT_STEPS: usize = 4;
/// Smallest diagonal added to each block's normal matrix (in scaled units).
const DUAL_REGULARIZATION: f64 = 1e-6;
/// The diagonal added to each block's normal matrix, relative to its largest diagonal entry.
const RELATIVE_REGULARIZATION: f64 = 1e-12;
/// Pivots below this fraction of their diagonal are treated as dependent rows.
const TINY_PIVOT: f64 = 1e-30;
/// What a dependent row's pivot is replaced with: its direction then drops out of the step.
const HUGE_PIVOT: f64 = 1e64;

/// Where a standard-form row lives.
#[derive(Debug, Clone, Copy)]
enum Place {
    Block(usize, usize),
    Link(usize),
}

/// The scaled standard form `min c·x, A x = b, 0 ≤ x ≤ u` and its block structure.
struct Standard {
    cost: Vec<f64>,
    upper: Vec<f64>,
    b: Vec<f64>,
    /// Entries per column (scaled).
    cols: Vec<Vec<(usize, f64)>>,
    place: Vec<Place>,
    block_rows: Vec<usize>,
    link_rows: usize,
    /// Local columns of each block.
    block_cols: Vec<Vec<usize>>,
    link_only: Vec<usize>,
    globals: Vec<usize>,
    /// Per block: (global index, local row, value) of the global columns' entries in it.
    block_globals: Vec<Vec<(usize, usize, f64)>>,
    /// Per block: the Schur indices (linking rows, then `link_rows + global`) it touches.
    touched: Vec<Vec<usize>>,
    /// Original column of each standard column (`None` for slacks).
    original: Vec<Option<usize>>,
    col_scale: Vec<f64>,
    row_scale: Vec<f64>,
}

impl Standard {
    fn new(lp: &LinearProgram) -> Result<Standard, LpFailure> {
        let m = lp.rows.len();
        // Scale rows, then columns, to unit largest entries (twice, so both settle).
        let mut row_scale = vec![1.0; m];
        let mut col_scale = vec![1.0; lp.cost.len()];
        for _ in 0..2 {
            let mut row_max = vec![0.0f64; m];
            for (j, entries) in lp.entries.iter().enumerate() {
                for &(i, v) in entries {
                    row_max[i] = row_max[i].max((v * row_scale[i] * col_scale[j]).abs());
                }
            }
            for (scale, max) in row_scale.iter_mut().zip(&row_max) {
                if *max > 0.0 {
                    *scale /= max.sqrt();
                }
            }
            for (j, entries) in lp.entries.iter().enumerate() {
                let max = entries
                    .iter()
                    .map(|&(i, v)| (v * row_scale[i] * col_scale[j]).abs())
                    .fold(0.0, f64::max);
                if max > 0.0 {
                    col_scale[j] /= max.sqrt();
                }
            }
        }
        let mut row_used = vec![false; m];
        let mut cost = Vec::new();
        let mut upper = Vec::new();
        let mut cols: Vec<Vec<(usize, f64)>> = Vec::new();
        let mut original = Vec::new();
        for (j, entries) in lp.entries.iter().enumerate() {
            if lp.upper[j] <= 0.0 {
                continue; // fixed at zero
            }
            let scaled: Vec<(usize, f64)> = entries
                .iter()
                .filter(|(_, v)| *v != 0.0)
                .map(|&(i, v)| (i, v * row_scale[i] * col_scale[j]))
                .collect();
            for &(i, _) in &scaled {
                row_used[i] = true;
            }
            cost.push(lp.cost[j] * col_scale[j]);
            upper.push(lp.upper[j] / col_scale[j]);
            cols.push(scaled);
            original.push(Some(j));
        }
        let b: Vec<f64> = lp
            .rows
            .iter()
            .zip(&row_scale)
            .map(|(r, s)| r.rhs * s)
            .collect();
        for (i, row) in lp.rows.iter().enumerate() {
            let slack = match row.sense {
                Sense::AtMost => 1.0,
                Sense::AtLeast => -1.0,
                Sense::Equal => {
                    if !row_used[i] && lp.rows[i].rhs.abs() > 1e-12 {
                        return Err(LpFailure::Infeasible(format!(
                            "row {i} has no entries but asks for {}",
                            lp.rows[i].rhs
                        )));
                    }
                    continue;
                }
            };
            cost.push(0.0);
            upper.push(f64::INFINITY);
            cols.push(vec![(i, slack)]);
            original.push(None);
            row_used[i] = true;
        }
        // Rows no column touches (an equality with a zero right-hand side) get a free-standing
        // slack so the normal matrix stays regular.
        for (i, used) in row_used.iter().enumerate() {
            if !used {
                cost.push(0.0);
                upper.push(f64::INFINITY);
                cols.push(vec![(i, 1.0)]);
                original.push(None);
            }
        }

        // Block structure.
        let mut block_index = std::collections::HashMap::new();
        let mut block_rows: Vec<usize> = Vec::new();
        let mut link_rows = 0;
        let place: Vec<Place> = lp
            .rows
            .iter()
            .map(|row| match row.block {
                Some(id) => {
                    let next = block_index.len();
                    let bi = *block_index.entry(id).or_insert(next);
                    if bi == block_rows.len() {
                        block_rows.push(0);
                    }
                    block_rows[bi] += 1;
                    Place::Block(bi, block_rows[bi] - 1)
                }
                None => {
                    link_rows += 1;
                    Place::Link(link_rows - 1)
                }
            })
            .collect();
        let blocks = block_rows.len();
        let mut block_cols = vec![Vec::new(); blocks];
        let mut link_only = Vec::new();
        let mut globals = Vec::new();
        let mut block_globals = vec![Vec::new(); blocks];
        for (j, entries) in cols.iter().enumerate() {
            let mut home: Option<usize> = None;
            let mut several = false;
            for &(i, _) in entries {
                if let Place::Block(bi, _) = place[i] {
                    match home {
                        None => home = Some(bi),
                        Some(h) if h != bi => several = true,
                        _ => {}
                    }
                }
            }
            match (home, several) {
                (None, _) => link_only.push(j),
                (Some(bi), false) => block_cols[bi].push(j),
                (Some(_), true) => {
                    let gi = globals.len();
                    globals.push(j);
                    for &(i, v) in entries {
                        if let Place::Block(bi, local) = place[i] {
                            block_globals[bi].push((gi, local, v));
                        }
                    }
                }
            }
        }
        let mut touched = vec![Vec::new(); blocks];
        for (bi, list) in touched.iter_mut().enumerate() {
            for &j in &block_cols[bi] {
                for &(i, _) in &cols[j] {
                    if let Place::Link(l) = place[i] {
                        list.push(l);
                    }
                }
            }
            for &(gi, _, _) in &block_globals[bi] {
                list.push(link_rows + gi);
            }
            list.sort_unstable();
            list.dedup();
        }
        Ok(Standard {
            cost,
            upper,
            b,
            cols,
            place,
            block_rows,
            link_rows,
            block_cols,
            link_only,
            globals,
            block_globals,
            touched,
            original,
            col_scale,
            row_scale,
        })
    }

    fn n(&self) -> usize {
        self.cols.len()
    }

    fn m(&self) -> usize {
        self.b.len()
    }

    /// `A x`.
    fn times(&self, x: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (j, entries) in self.cols.iter().enumerate() {
            let xj = x[j];
            if xj != 0.0 {
                for &(i, v) in entries {
                    out[i] += v * xj;
                }
            }
        }
    }

    /// `Aᵀ y`.
    fn transpose_times(&self, y: &[f64], out: &mut [f64]) {
        for (j, entries) in self.cols.iter().enumerate() {
            out[j] = entries.iter().map(|&(i, v)| v * y[i]).sum();
        }
    }
}

/// Dense lower Cholesky factor in place (row-major `n × n`); dependent rows get a huge pivot.
fn cholesky(a: &mut [f64], n: usize) {
    for j in 0..n {
        let mut d = a[j * n + j];
        let scale = d.abs().max(1.0);
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= TINY_PIVOT * scale || !d.is_finite() {
            a[j * n + j] = HUGE_PIVOT;
            for i in j + 1..n {
                a[i * n + j] = 0.0;
            }
            continue;
        }
        let pivot = d.sqrt();
        a[j * n + j] = pivot;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / pivot;
        }
    }
}

/// Solves `L Lᵀ x = b` in place with the factor from [`cholesky`].
fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Dense LU with partial pivoting in place (row-major `n × n`); returns the row permutation.
fn lu(a: &mut [f64], n: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    let norm = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);
    for k in 0..n {
        let (p, max) = (k..n)
            .map(|i| (i, a[i * n + k].abs()))
            .fold((k, -1.0), |best, c| if c.1 > best.1 { c } else { best });
        if p != k {
            for c in 0..n {
                a.swap(k * n + c, p * n + c);
            }
            perm.swap(k, p);
        }
        if max <= TINY_PIVOT * norm || !max.is_finite() {
            a[k * n + k] = HUGE_PIVOT;
            for i in k + 1..n {
                a[i * n + k] = 0.0;
            }
            continue;
        }
        let pivot = a[k * n + k];
        for i in k + 1..n {
            let f = a[i * n + k] / pivot;
            a[i * n + k] = f;
            if f != 0.0 {
                for c in k + 1..n {
                    a[i * n + c] -= f * a[k * n + c];
                }
            }
        }
    }
    perm
}

/// Solves with the factors from [`lu`].
fn lu_solve(a: &[f64], perm: &[usize], n: usize, b: &[f64]) -> Vec<f64> {
    let mut x: Vec<f64> = perm.iter().map(|&p| b[p]).collect();
    for i in 0..n {
        let mut s = x[i];
        for k in 0..i {
            s -= a[i * n + k] * x[k];
        }
        x[i] = s;
    }
    for i in (0..n).rev() {
        let mut s = x[i];
        for k in i + 1..n {
            s -= a[i * n + k] * x[k];
        }
        x[i] = s / a[i * n + i];
    }
    x
}

/// What the factorization needs of the block structure, laid out once per solve.
struct Layout {
    /// Per block: offset of its `n × n` matrix and `n × k` couplings in the flat buffers.
    matrix_offset: Vec<usize>,
    coupling_offset: Vec<usize>,
    /// Per block, per local column: (column, range into `entries`).
    block_columns: Vec<Vec<(usize, std::ops::Range<usize>)>>,
    /// Entries of local columns: (local row or `usize::MAX`, touched index or `usize::MAX`, value).
    entries: Vec<(usize, usize, f64)>,
    /// Per block: (touched index, local row, value) of global columns' entries.
    global_entries: Vec<Vec<(usize, usize, f64)>>,
    /// Linking-row entries of local and link-only columns, per column: (link row, value).
    link_entries: Vec<Vec<(usize, f64)>>,
    /// Size of the Schur complement: linking rows plus global columns.
    schur: usize,
}

impl Layout {
    fn new(lp: &Standard) -> Layout {
        let blocks = lp.block_rows.len();
        let mut matrix_offset = Vec::with_capacity(blocks);
        let mut coupling_offset = Vec::with_capacity(blocks);
        let (mut mo, mut co) = (0, 0);
        for bi in 0..blocks {
            matrix_offset.push(mo);
            coupling_offset.push(co);
            mo += lp.block_rows[bi] * lp.block_rows[bi];
            co += lp.block_rows[bi] * lp.touched[bi].len();
        }
        matrix_offset.push(mo);
        coupling_offset.push(co);
        let mut entries = Vec::new();
        let mut block_columns = Vec::with_capacity(blocks);
        for bi in 0..blocks {
            let touched = &lp.touched[bi];
            let mut columns = Vec::with_capacity(lp.block_cols[bi].len());
            for &j in &lp.block_cols[bi] {
                let start = entries.len();
                for &(i, v) in &lp.cols[j] {
                    match lp.place[i] {
                        Place::Block(_, r) => entries.push((r, usize::MAX, v)),
                        Place::Link(l) => {
                            let c = touched.binary_search(&l).expect("touched");
                            entries.push((usize::MAX, c, v));
                        }
                    }
                }
                columns.push((j, start..entries.len()));
            }
            block_columns.push(columns);
        }
        let global_entries = (0..blocks)
            .map(|bi| {
                lp.block_globals[bi]
                    .iter()
                    .map(|&(gi, r, v)| {
                        let c = lp.touched[bi]
                            .binary_search(&(lp.link_rows + gi))
                            .expect("touched");
                        (c, r, v)
                    })
                    .collect()
            })
            .collect();
        let link_entries = lp
            .cols
            .iter()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|&(i, v)| match lp.place[i] {
                        Place::Link(l) => Some((l, v)),
                        Place::Block(..) => None,
                    })
                    .collect()
            })
            .collect();
        Layout {
            matrix_offset,
            coupling_offset,
            block_columns,
            entries,
            global_entries,
            link_entries,
            schur: lp.link_rows + lp.globals.len(),
        }
    }
}

/// The normal matrix `A Θ Aᵀ`, factored block by block (buffers reused across iterations).
struct Factor {
    /// Per block (flat): Cholesky factor of its rows' part of `A_L Θ A_Lᵀ`.
    chol: Vec<f64>,
    /// Per block (flat): `B_t` (block rows × touched Schur indices).
    coupling: Vec<f64>,
    /// Per block (flat): `M_t⁻¹ B_t`.
    solved: Vec<f64>,
    schur: Vec<f64>,
    perm: Vec<usize>,
    column: Vec<f64>,
    block_rhs: Vec<f64>,
}

impl Factor {
    fn new(layout: &Layout) -> Factor {
        let total = *layout.matrix_offset.last().expect("offsets");
        let couplings = *layout.coupling_offset.last().expect("offsets");
        Factor {
            chol: vec![0.0; total],
            coupling: vec![0.0; couplings],
            solved: vec![0.0; couplings],
            schur: vec![0.0; layout.schur * layout.schur],
            perm: Vec::new(),
            column: Vec::new(),
            block_rhs: Vec::new(),
        }
    }

    /// Factors `A Θ Aᵀ` for `theta`.
    fn factor(&mut self, lp: &Standard, layout: &Layout, theta: &[f64]) {
        let d = layout.schur;
        self.schur.fill(0.0);
        self.chol.fill(0.0);
        self.coupling.fill(0.0);
        for bi in 0..lp.block_rows.len() {
            let n = lp.block_rows[bi];
            let k = lp.touched[bi].len();
            let m = &mut self.chol[layout.matrix_offset[bi]..layout.matrix_offset[bi + 1]];
            let bt = &mut self.coupling[layout.coupling_offset[bi]..layout.coupling_offset[bi + 1]];
            for (j, range) in &layout.block_columns[bi] {
                let t = theta[*j];
                let entries = &layout.entries[range.clone()];
                for &(r1, _, v1) in entries {
                    if r1 == usize::MAX {
                        continue;
                    }
                    let tv = t * v1;
                    for &(r2, c2, v2) in entries {
                        if r2 == usize::MAX {
                            bt[r1 * k + c2] += tv * v2;
                        } else if r2 <= r1 {
                            m[r1 * n + r2] += tv * v2;
                        }
                    }
                }
                for &(l1, v1) in &layout.link_entries[*j] {
                    for &(l2, v2) in &layout.link_entries[*j] {
                        self.schur[l1 * d + l2] += t * v1 * v2;
                    }
                }
            }
            for &(c, r, v) in &layout.global_entries[bi] {
                bt[r * k + c] += v;
            }
            // Dual regularization: a block whose local columns all sit at a bound has a nearly
            // singular matrix, and the Schur complement would subtract huge, nearly equal
            // numbers; a small diagonal keeps both well conditioned, and iterative refinement
            // against the true normal matrix recovers the accuracy.
            let max_diag = (0..n).map(|r| m[r * n + r]).fold(0.0, f64::max);
            let delta = DUAL_REGULARIZATION.max(RELATIVE_REGULARIZATION * max_diag);
            for r in 0..n {
                m[r * n + r] += delta;
            }
            cholesky(m, n);
            let w = &mut self.solved[layout.coupling_offset[bi]..layout.coupling_offset[bi + 1]];
            self.column.resize(n, 0.0);
            for c in 0..k {
                for r in 0..n {
                    self.column[r] = bt[r * k + c];
                }
                cholesky_solve(m, n, &mut self.column);
                for r in 0..n {
                    w[r * k + c] = self.column[r];
                }
            }
            // Schur[touched × touched] −= Bᵀ M⁻¹ B.
            let touched = &lp.touched[bi];
            for c1 in 0..k {
                let z1 = touched[c1];
                for c2 in 0..k {
                    let mut s = 0.0;
                    for r in 0..n {
                        s += bt[r * k + c1] * w[r * k + c2];
                    }
                    self.schur[z1 * d + touched[c2]] -= s;
                }
            }
        }
        for &j in &lp.link_only {
            let t = theta[j];
            for &(l1, v1) in &layout.link_entries[j] {
                for &(l2, v2) in &layout.link_entries[j] {
                    self.schur[l1 * d + l2] += t * v1 * v2;
                }
            }
        }
        for (gi, &j) in lp.globals.iter().enumerate() {
            let z = lp.link_rows + gi;
            for &(l, v) in &layout.link_entries[j] {
                self.schur[l * d + z] += v;
                self.schur[z * d + l] += v;
            }
            self.schur[z * d + z] -= 1.0 / theta[j];
        }
        self.perm = lu(&mut self.schur, d);
    }

    /// Solves `A Θ Aᵀ dy = r` into `dy`.
    fn solve(&mut self, lp: &Standard, layout: &Layout, r: &[f64], dy: &mut [f64]) {
        let d = layout.schur;
        let blocks = lp.block_rows.len();
        let mut rhs_z = vec![0.0; d];
        // Block right-hand sides, laid out block after block.
        let mut offsets = Vec::with_capacity(blocks + 1);
        let mut total = 0;
        for &n in &lp.block_rows {
            offsets.push(total);
            total += n;
        }
        offsets.push(total);
        self.block_rhs.resize(total, 0.0);
        for (i, &p) in lp.place.iter().enumerate() {
            match p {
                Place::Block(bi, local) => self.block_rhs[offsets[bi] + local] = r[i],
                Place::Link(l) => rhs_z[l] = r[i],
            }
        }
        for bi in 0..blocks {
            let n = lp.block_rows[bi];
            let k = lp.touched[bi].len();
            let m = &self.chol[layout.matrix_offset[bi]..layout.matrix_offset[bi + 1]];
            let u = &mut self.block_rhs[offsets[bi]..offsets[bi + 1]];
            cholesky_solve(m, n, u);
            let bt = &self.coupling[layout.coupling_offset[bi]..layout.coupling_offset[bi + 1]];
            for (c, &z) in lp.touched[bi].iter().enumerate() {
                let mut s = 0.0;
                for (row, value) in u.iter().enumerate() {
                    s += bt[row * k + c] * value;
                }
                rhs_z[z] -= s;
            }
        }
        let z = lu_solve(&self.schur, &self.perm, d, &rhs_z);
        for (i, &p) in lp.place.iter().enumerate() {
            match p {
                Place::Block(bi, local) => {
                    let k = lp.touched[bi].len();
                    let w = &self.solved[layout.coupling_offset[bi]..];
                    let mut v = self.block_rhs[offsets[bi] + local];
                    for (c, &zi) in lp.touched[bi].iter().enumerate() {
                        v -= w[local * k + c] * z[zi];
                    }
                    dy[i] = v;
                }
                Place::Link(l) => dy[i] = z[l],
            }
        }
    }
}

/// Iterate of the method: primal `x`, upper slacks `s`, duals `y`, reduced costs `z`, `w`.
#[derive(Clone)]
struct Point {
    x: Vec<f64>,
    s: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    w: Vec<f64>,
}

impl Point {
    fn zeros(n: usize, m: usize) -> Point {
        Point {
            x: vec![0.0; n],
            s: vec![0.0; n],
            y: vec![0.0; m],
            z: vec![0.0; n],
            w: vec![0.0; n],
        }
    }
}

/// The largest magnitude in `v`; NaN if any entry is NaN (`f64::max` alone would skip it, and a
/// broken iterate would then pass for a good one).
fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m: f64, x| {
        if m.is_nan() || x.is_nan() {
            f64::NAN
        } else {
            m.max(x.abs())
        }
    })
}

/// One solve's state: the program, its factorization and reusable work vectors.
struct Newton<'a> {
    st: &'a Standard,
    layout: Layout,
    factor: Factor,
    bounded: Vec<bool>,
    theta: Vec<f64>,
    rho: Vec<f64>,
    scaled: Vec<f64>,
    rhs: Vec<f64>,
    kdy: Vec<f64>,
    residual: Vec<f64>,
    correction: Vec<f64>,
    at: Vec<f64>,
}

impl<'a> Newton<'a> {
    fn new(st: &'a Standard) -> Self {
        let layout = Layout::new(st);
        let factor = Factor::new(&layout);
        let (n, m) = (st.n(), st.m());
        Newton {
            st,
            layout,
            factor,
            bounded: st.upper.iter().map(|u| u.is_finite()).collect(),
            theta: vec![1.0; n],
            rho: vec![0.0; n],
            scaled: vec![0.0; n],
            rhs: vec![0.0; m],
            kdy: vec![0.0; m],
            residual: vec![0.0; m],
            correction: vec![0.0; m],
            at: vec![0.0; n],
        }
    }

    fn factor(&mut self) {
        self.factor.factor(self.st, &self.layout, &self.theta);
    }

    /// Solves `A Θ Aᵀ dy = r` with iterative refinement against the unregularized matrix: near
    /// the optimum Θ spans many magnitudes and the factored solve alone loses digits.
    fn normal_solve(&mut self, r: &[f64], dy: &mut [f64]) {
        let st = self.st;
        let (n, m) = (st.n(), st.m());
        self.factor.solve(st, &self.layout, r, dy);
        let scale = 1e-15 * (1.0 + max_abs(r));
        let mut last = f64::INFINITY;
        for _ in 0..REFINEMENT_STEPS {
            st.transpose_times(dy, &mut self.at);
            for j in 0..n {
                self.at[j] *= self.theta[j];
            }
            st.times(&self.at, &mut self.kdy);
            for i in 0..m {
                self.residual[i] = r[i] - self.kdy[i];
            }
            let size = max_abs(&self.residual);
            if size.is_nan() || size >= last || size <= scale {
                break;
            }
            last = size;
            let residual = std::mem::take(&mut self.residual);
            let mut correction = std::mem::take(&mut self.correction);
            self.factor
                .solve(st, &self.layout, &residual, &mut correction);
            for i in 0..m {
                dy[i] += correction[i];
            }
            self.residual = residual;
            self.correction = correction;
        }
    }

    /// The Newton direction for complementarity targets `rxz` (x∘z) and `rsw` (s∘w).
    #[allow(clippy::too_many_arguments)]
    fn direction(
        &mut self,
        pt: &Point,
        rb: &[f64],
        ru: &[f64],
        rc: &[f64],
        rxz: &[f64],
        rsw: &[f64],
        d: &mut Point,
    ) {
        let st = self.st;
        let n = st.n();
        for j in 0..n {
            let mut v = rc[j] - rxz[j] / pt.x[j];
            if self.bounded[j] {
                v += (rsw[j] - pt.w[j] * ru[j]) / pt.s[j];
            }
            self.rho[j] = v;
            self.scaled[j] = self.theta[j] * v;
        }
        st.times(&self.scaled, &mut self.rhs);
        for (r, b) in self.rhs.iter_mut().zip(rb) {
            *r += b;
        }
        let rhs = std::mem::take(&mut self.rhs);
        self.normal_solve(&rhs, &mut d.y);
        self.rhs = rhs;
        st.transpose_times(&d.y, &mut self.at);
        for j in 0..n {
            d.x[j] = self.theta[j] * (self.at[j] - self.rho[j]);
            d.z[j] = (rxz[j] - pt.z[j] * d.x[j]) / pt.x[j];
            if self.bounded[j] {
                d.s[j] = ru[j] - d.x[j];
                d.w[j] = (rsw[j] - pt.w[j] * d.s[j]) / pt.s[j];
            } else {
                d.s[j] = 0.0;
                d.w[j] = 0.0;
            }
        }
    }
}

/// Largest primal and dual steps in [0, 1] that keep the iterate positive.
fn step_lengths(pt: &Point, d: &Point, bounded: &[bool]) -> (f64, f64) {
    let mut ap: f64 = 1.0;
    let mut ad: f64 = 1.0;
    for j in 0..pt.x.len() {
        if d.x[j] < 0.0 {
            ap = ap.min(-pt.x[j] / d.x[j]);
        }
        if d.z[j] < 0.0 {
            ad = ad.min(-pt.z[j] / d.z[j]);
        }
        if bounded[j] {
            if d.s[j] < 0.0 {
                ap = ap.min(-pt.s[j] / d.s[j]);
            }
            if d.w[j] < 0.0 {
                ad = ad.min(-pt.w[j] / d.w[j]);
            }
        }
    }
    (ap, ad)
}

/// Minimises the program, stopping at `deadline`.
pub fn solve(lp: &LinearProgram, deadline: Option<Instant>) -> Result<LpSolution, LpFailure> {
    let st = Standard::new(lp)?;
    let n = st.n();
    let m = st.m();
    let mut newton = Newton::new(&st);
    let bounded = newton.bounded.clone();
    let n_compl = n + bounded.iter().filter(|b| **b).count();
    let b_norm = max_abs(&st.b);
    let c_norm = max_abs(&st.cost);
    let u_norm = st
        .upper
        .iter()
        .filter(|u| u.is_finite())
        .fold(0.0f64, |m, u| m.max(u.abs()));

    // Mehrotra's starting point: least-norm x and least-squares duals, shifted positive.
    newton.factor();
    let mut pt = Point::zeros(n, m);
    let mut work = vec![0.0; m];
    newton.normal_solve(&st.b, &mut work);
    st.transpose_times(&work, &mut pt.x);
    let mut ac = vec![0.0; m];
    st.times(&st.cost, &mut ac);
    newton.normal_solve(&ac, &mut pt.y);
    let mut aty = vec![0.0; n];
    st.transpose_times(&pt.y, &mut aty);
    for j in 0..n {
        let zt = st.cost[j] - aty[j];
        if bounded[j] {
            pt.s[j] = st.upper[j] - pt.x[j];
            pt.z[j] = zt.max(0.0);
            pt.w[j] = (-zt).max(0.0);
        } else {
            pt.z[j] = zt;
        }
    }
    let primal_min = (0..n)
        .flat_map(|j| [Some(pt.x[j]), bounded[j].then_some(pt.s[j])])
        .flatten()
        .fold(f64::INFINITY, f64::min);
    let dual_min = (0..n)
        .flat_map(|j| [Some(pt.z[j]), bounded[j].then_some(pt.w[j])])
        .flatten()
        .fold(f64::INFINITY, f64::min);
    let dp = (-1.5 * primal_min).max(0.0);
    let dd = (-1.5 * dual_min).max(0.0);
    let (mut pd, mut psum, mut dsum) = (0.0, 0.0, 0.0);
    for j in 0..n {
        pt.x[j] += dp;
        pt.z[j] += dd;
        pd += pt.x[j] * pt.z[j];
        psum += pt.x[j];
        dsum += pt.z[j];
        if bounded[j] {
            pt.s[j] += dp;
            pt.w[j] += dd;
            pd += pt.s[j] * pt.w[j];
            psum += pt.s[j];
            dsum += pt.w[j];
        }
    }
    let floor = 1e-3;
    let dp2 = if dsum > 0.0 { 0.5 * pd / dsum } else { 0.0 };
    let dd2 = if psum > 0.0 { 0.5 * pd / psum } else { 0.0 };
    for j in 0..n {
        pt.x[j] = (pt.x[j] + dp2).max(floor);
        pt.z[j] = (pt.z[j] + dd2).max(floor);
        if bounded[j] {
            pt.s[j] = (pt.s[j] + dp2).max(floor);
            pt.w[j] = (pt.w[j] + dd2).max(floor);
        } else {
            pt.s[j] = 0.0;
            pt.w[j] = 0.0;
        }
    }

    let mut rb = vec![0.0; m];
    let mut rc = vec![0.0; n];
    let mut ru = vec![0.0; n];
    let mut ax = vec![0.0; m];
    let mut rxz = vec![0.0; n];
    let mut rsw = vec![0.0; n];
    let mut aff = Point::zeros(n, m);
    let mut dir = Point::zeros(n, m);
    let mut best: Option<(f64, Point)> = None;
    let mut iterations = 0;
    let mut converged = false;
    let mut stalled = 0;
    loop {
        // Residuals.
        st.times(&pt.x, &mut ax);
        for i in 0..m {
            rb[i] = st.b[i] - ax[i];
        }
        st.transpose_times(&pt.y, &mut aty);
        for j in 0..n {
            rc[j] = st.cost[j] - aty[j] - pt.z[j] + pt.w[j];
            ru[j] = if bounded[j] {
                st.upper[j] - pt.x[j] - pt.s[j]
            } else {
                0.0
            };
        }
        let primal: f64 = st.cost.iter().zip(&pt.x).map(|(c, x)| c * x).sum();
        let dual: f64 = st.b.iter().zip(&pt.y).map(|(b, y)| b * y).sum::<f64>()
            - (0..n)
                .filter(|&j| bounded[j])
                .map(|j| st.upper[j] * pt.w[j])
                .sum::<f64>();
        let pinf = max_abs(&rb) / (1.0 + b_norm);
        let uinf = max_abs(&ru) / (1.0 + u_norm);
        let dinf = max_abs(&rc) / (1.0 + c_norm);
        let gap = (primal - dual).abs() / (1.0 + primal.abs());
        let merit = max_abs(&[pinf, uinf, dinf, gap]);
        let improved = best.as_ref().is_none_or(|(b, _)| merit < *b);
        if improved {
            best = Some((merit, pt.clone()));
        }
        if pinf <= FEASIBILITY_TOLERANCE
            && uinf <= FEASIBILITY_TOLERANCE
            && dinf <= FEASIBILITY_TOLERANCE
            && gap <= GAP_TOLERANCE
        {
            converged = true;
            break;
        }
        // Stop when the iterates no longer improve: past the attainable accuracy a step can
        // make things worse, and the best iterate is what is returned. Early iterates of an
        // infeasible start may get worse before they get better; only near the optimum is a
        // run of worse iterates a sign the attainable accuracy is reached.
        stalled = if improved || best.as_ref().is_some_and(|(b, _)| *b > STALL_MERIT) {
            0
        } else {
            stalled + 1
        };
        if iterations >= MAX_ITERATIONS || !merit.is_finite() || stalled >= STALL_ITERATIONS {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(LpFailure::TimeLimit);
        }
        iterations += 1;
        let mut mu = 0.0;
        for j in 0..n {
            mu += pt.x[j] * pt.z[j];
            if bounded[j] {
                mu += pt.s[j] * pt.w[j];
            }
        }
        mu /= n_compl as f64;
        for j in 0..n {
            let mut d = pt.z[j] / pt.x[j];
            if bounded[j] {
                d += pt.w[j] / pt.s[j];
            }
            newton.theta[j] = 1.0 / d.max(1e-300);
        }
        newton.factor();
        // Predictor.
        for j in 0..n {
            rxz[j] = -pt.x[j] * pt.z[j];
            rsw[j] = -pt.s[j] * pt.w[j];
        }
        newton.direction(&pt, &rb, &ru, &rc, &rxz, &rsw, &mut aff);
        let (ap, ad) = step_lengths(&pt, &aff, &bounded);
        let mut mu_aff = 0.0;
        for j in 0..n {
            mu_aff += (pt.x[j] + ap * aff.x[j]) * (pt.z[j] + ad * aff.z[j]);
            if bounded[j] {
                mu_aff += (pt.s[j] + ap * aff.s[j]) * (pt.w[j] + ad * aff.w[j]);
            }
        }
        mu_aff /= n_compl as f64;
        let sigma = (mu_aff / mu).powi(3).clamp(0.0, 1.0);
        // Corrector.
        for j in 0..n {
            rxz[j] = sigma * mu - pt.x[j] * pt.z[j] - aff.x[j] * aff.z[j];
            rsw[j] = if bounded[j] {
                sigma * mu - pt.s[j] * pt.w[j] - aff.s[j] * aff.w[j]
            } else {
                0.0
            };
        }
        newton.direction(&pt, &rb, &ru, &rc, &rxz, &rsw, &mut dir);
        let (ap, ad) = step_lengths(&pt, &dir, &bounded);
        let eta = (1.0 - mu).clamp(0.9, 0.99995);
        let ap = (eta * ap).min(1.0);
        let ad = (eta * ad).min(1.0);
        for j in 0..n {
            pt.x[j] += ap * dir.x[j];
            pt.z[j] += ad * dir.z[j];
            if bounded[j] {
                pt.s[j] += ap * dir.s[j];
                pt.w[j] += ad * dir.w[j];
            }
        }
        for i in 0..m {
            pt.y[i] += ad * dir.y[i];
        }
    }
    let (merit, point) = if converged {
        (0.0, pt)
    } else {
        best.expect("at least one iterate")
    };
    if !merit.is_finite() {
        return Err(LpFailure::Infeasible("the iterates diverged".into()));
    }
    // Unscale.
    let mut x = vec![0.0; lp.cost.len()];
    for (j, orig) in st.original.iter().enumerate() {
        if let Some(o) = orig {
            x[*o] = point.x[j] * st.col_scale[*o];
        }
    }
    let duals: Vec<f64> = point
        .y
        .iter()
        .zip(&st.row_scale)
        .map(|(y, r)| y * r)
        .collect();
    let objective = lp.cost.iter().zip(&x).map(|(c, x)| c * x).sum();
    let dual_objective = st.b.iter().zip(&point.y).map(|(b, y)| b * y).sum::<f64>()
        - (0..n)
            .filter(|&j| bounded[j])
            .map(|j| st.upper[j] * point.w[j])
            .sum::<f64>();
    Ok(LpSolution {
        x,
        duals,
        objective,
        dual_objective,
        iterations,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use good_lp::{Expression, ProblemVariables, SolverModel, constraint, variable};

    /// The optimum of `lp` by microlp, for comparison.
    fn microlp_objective(lp: &LinearProgram) -> f64 {
        let mut vars = ProblemVariables::new();
        let x: Vec<_> = lp
            .upper
            .iter()
            .map(|&u| {
                vars.add(if u.is_finite() {
                    variable().min(0).max(u)
                } else {
                    variable().min(0)
                })
            })
            .collect();
        let objective: Expression = lp.cost.iter().zip(&x).map(|(c, v)| *c * *v).sum();
        let mut rows: Vec<Expression> = vec![Expression::from(0.0); lp.rows.len()];
        for (j, entries) in lp.entries.iter().enumerate() {
            for &(i, a) in entries {
                rows[i] += a * x[j];
            }
        }
        let mut model = vars.minimise(objective.clone()).using(good_lp::microlp);
        for (row, e) in lp.rows.iter().zip(rows) {
            let rhs = row.rhs;
            model.add_constraint(match row.sense {
                Sense::AtMost => constraint!(e <= rhs),
                Sense::Equal => constraint!(e == rhs),
                Sense::AtLeast => constraint!(e >= rhs),
            });
        }
        let solution = model.solve().expect("microlp solves the test program");
        objective.eval_with(&solution)
    }

    /// The Lagrangian bound of `duals` (with each dual clamped to its sign): a lower bound on the
    /// optimum for any duals, equal to it at optimal ones.
    fn lagrangian(lp: &LinearProgram, duals: &[f64]) -> f64 {
        let y: Vec<f64> = lp
            .rows
            .iter()
            .zip(duals)
            .map(|(r, &y)| match r.sense {
                Sense::AtMost => y.min(0.0),
                Sense::AtLeast => y.max(0.0),
                Sense::Equal => y,
            })
            .collect();
        let mut bound: f64 = lp.rows.iter().zip(&y).map(|(r, y)| r.rhs * y).sum();
        for (j, entries) in lp.entries.iter().enumerate() {
            let reduced = lp.cost[j] - entries.iter().map(|&(i, a)| a * y[i]).sum::<f64>();
            if lp.upper[j].is_finite() {
                bound += reduced.min(0.0) * lp.upper[j];
            } else {
                assert!(
                    reduced >= -1e-7,
                    "column {j} has reduced cost {reduced} and no bound"
                );
            }
        }
        bound
    }

    fn max_violation(lp: &LinearProgram, x: &[f64]) -> f64 {
        let mut ax = vec![0.0; lp.rows.len()];
        for (j, entries) in lp.entries.iter().enumerate() {
            for &(i, a) in entries {
                ax[i] += a * x[j];
            }
        }
        let rows = lp.rows.iter().zip(&ax).map(|(r, &v)| match r.sense {
            Sense::AtMost => (v - r.rhs).max(0.0),
            Sense::AtLeast => (r.rhs - v).max(0.0),
            Sense::Equal => (v - r.rhs).abs(),
        });
        let bounds = x
            .iter()
            .zip(&lp.upper)
            .map(|(&v, &u)| (-v).max(v - u).max(0.0));
        rows.chain(bounds).fold(0.0, f64::max)
    }

    #[test]
    fn a_nan_is_the_largest_magnitude() {
        // `f64::max` drops a NaN: a broken iterate's residuals would have passed for zero.
        assert!(max_abs(&[1.0, f64::NAN, 2.0]).is_nan());
        assert!(max_abs(&[f64::NAN]).is_nan());
        assert_eq!(max_abs(&[1.0, -3.0]), 3.0);
        assert_eq!(max_abs(&[]), 0.0);
    }

    #[test]
    fn a_small_program_has_the_hand_solution_and_its_duals() {
        // min x0 + 2 x1  s.t.  x0 + x1 ≥ 1 (block 0),  x0 ≤ 0.6:
        // x0 = 0.6, x1 = 0.4, cost 1.4; one more unit of demand costs 2.
        let mut lp = LinearProgram::default();
        let demand = lp.add_row(Sense::AtLeast, 1.0, Some(0));
        lp.add_column(1.0, 0.6, vec![(demand, 1.0)]);
        lp.add_column(2.0, f64::INFINITY, vec![(demand, 1.0)]);
        let solution = solve(&lp, None).unwrap();
        assert!(solution.converged);
        assert!((solution.objective - 1.4).abs() < 1e-8, "{solution:?}");
        assert!((solution.x[0] - 0.6).abs() < 1e-7 && (solution.x[1] - 0.4).abs() < 1e-7);
        assert!((solution.duals[0] - 2.0).abs() < 1e-7, "{solution:?}");
        assert!((lagrangian(&lp, &solution.duals) - 1.4).abs() < 1e-7);
    }

    #[test]
    fn an_empty_row_that_asks_for_something_is_infeasible() {
        let mut lp = LinearProgram::default();
        let row = lp.add_row(Sense::Equal, 3.0, Some(0));
        lp.add_column(1.0, 1.0, vec![(row, 0.0)]);
        assert!(matches!(solve(&lp, None), Err(LpFailure::Infeasible(_))));
    }

    /// A feasible block-angular program: `blocks` blocks of rows with local columns, global
    /// columns that appear in every block, linking rows over local columns, some bounded
    /// columns, and degenerate copies of columns.
    fn random_program(seed: u64, blocks: usize) -> LinearProgram {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut lp = LinearProgram::default();
        // (cost, upper bound, entries) of each column.
        type Column = (f64, f64, Vec<(usize, f64)>);
        let mut columns: Vec<Column> = Vec::new();
        let links = 1 + (next() * 3.0) as usize;
        let link_rows: Vec<usize> = (0..links)
            .map(|_| {
                let sense = [Sense::AtMost, Sense::Equal, Sense::AtLeast][(next() * 3.0) as usize];
                lp.add_row(sense, 0.0, None)
            })
            .collect();
        let globals = 1 + (next() * 3.0) as usize;
        let mut global_entries: Vec<Vec<(usize, f64)>> = vec![Vec::new(); globals];
        for t in 0..blocks {
            let rows = 1 + (next() * 5.0) as usize;
            let block_rows: Vec<usize> = (0..rows)
                .map(|_| {
                    let sense =
                        [Sense::AtMost, Sense::Equal, Sense::AtLeast][(next() * 3.0) as usize];
                    lp.add_row(sense, 0.0, Some(t * 7 + 3))
                })
                .collect();
            for _ in 0..(rows + 1 + (next() * 6.0) as usize) {
                let mut entries: Vec<(usize, f64)> = Vec::new();
                for &r in &block_rows {
                    if next() < 0.6 {
                        entries.push((r, next() * 4.0 - 1.0));
                    }
                }
                if next() < 0.3 {
                    entries.push((link_rows[(next() * links as f64) as usize], next() * 2.0));
                }
                let upper = if next() < 0.3 {
                    1.0 + next() * 5.0
                } else {
                    f64::INFINITY
                };
                let cost = next() * 3.0;
                if next() < 0.2 {
                    columns.push((cost, upper, entries.clone()));
                }
                columns.push((cost, upper, entries));
            }
            for g in global_entries.iter_mut() {
                for &r in &block_rows {
                    if next() < 0.5 {
                        g.push((r, -next() * 2.0));
                    }
                }
            }
        }
        for g in global_entries {
            columns.push((1.0 + next() * 5.0, 10.0 + next() * 20.0, g));
        }
        // A point: every column at a fraction of its bound (or of 2), and right-hand sides it
        // meets.
        let point: Vec<f64> = columns
            .iter()
            .map(|(_, u, _)| next() * if u.is_finite() { *u } else { 2.0 })
            .collect();
        let mut activity = vec![0.0; lp.rows.len()];
        for ((_, _, entries), x) in columns.iter().zip(&point) {
            for &(i, a) in entries {
                activity[i] += a * x;
            }
        }
        for (row, a) in lp.rows.iter_mut().zip(&activity) {
            row.rhs = match row.sense {
                Sense::AtMost => a + next(),
                Sense::Equal => *a,
                Sense::AtLeast => a - next(),
            };
        }
        for (cost, upper, entries) in columns {
            lp.add_column(cost, upper, entries);
        }
        lp
    }

    #[test]
    fn random_block_programs_reach_the_simplex_optimum_with_duals_that_prove_it() {
        let mut converged = 0;
        for seed in 1..=200u64 {
            let lp = random_program(seed, 1 + (seed as usize % 13));
            let expected = microlp_objective(&lp);
            let solution = solve(&lp, None).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
            let scale = 1.0 + expected.abs();
            converged += usize::from(solution.converged);
            assert!(
                (solution.objective - expected).abs() <= 1e-6 * scale,
                "seed {seed}: interior point {} vs simplex {expected}",
                solution.objective
            );
            let rhs_scale = 1.0 + lp.rows.iter().map(|r| r.rhs.abs()).fold(0.0, f64::max);
            assert!(
                max_violation(&lp, &solution.x) <= 1e-6 * rhs_scale,
                "seed {seed}"
            );
            let bound = lagrangian(&lp, &solution.duals);
            assert!(
                bound <= expected + 1e-7 * scale && bound >= expected - 1e-6 * scale,
                "seed {seed}: bound {bound} vs optimum {expected}"
            );
        }
        // The others stop at their best iterate, a little short of the tolerances.
        assert!(converged >= 190, "{converged} of 200 converged");
    }

    #[test]
    fn a_passed_deadline_stops_the_solve() {
        let lp = random_program(7, 5);
        let past = Instant::now() - std::time::Duration::from_secs(1);
        assert_eq!(solve(&lp, Some(past)).unwrap_err(), LpFailure::TimeLimit);
    }
}
