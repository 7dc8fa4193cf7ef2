#!/usr/bin/python3
"""Reference values for the SO(3) power-spectrum tests (tests/Mlip.Tests/Descriptors/So3Tests.cs).

Run with Debian's python3 (numpy, scipy, mpmath), in this folder:

    /usr/bin/python3 make_so3_reference.py [--lammps-src DIR]

What it computes: LAMMPS ML-IAP `descriptor so3` (src/ML-IAP/mliap_so3.cpp and mliap_so3_math.h,
LAMMPS 20220106 as in Debian 12; contributed by the PyXtal_FF authors) for a few small periodic
structures: the descriptors B_i and the per-pair derivatives dB_i/dr_ij, r_ij = r_j + S.cell - r_i.

Two independent routes:

1. `LammpsSo3` below: a line-by-line numpy/Python transcription of the LAMMPS C++ (same radial
   basis and W = S^-1/2 algorithm with LAMMPS's LU inverse and Jacobi eigensolver, same
   Gauss-Chebyshev quadrature with (nmax+lmax+1)*10 points, same upward recurrence for the modified
   spherical Bessel functions, complex Y_lm from the Cayley-Klein U matrices, gradients of Y_lm
   from the covariant-component formula, element weights converted to int, cosine switching
   function with the cutoff rcutfac, neighbours kept when r^2 < ((rad_i + rad_j) rcutfac)^2).
2. With --lammps-src DIR (a LAMMPS source tree, e.g. from `apt-get source lammps`), the script also
   compiles LAMMPS's own unmodified mliap_so3.cpp with so3_lammps_harness/ (small stand-ins for the
   LAMMPS Memory/Error/Pointers classes plus a driver that calls init(), spectrum() and
   spectrum_dxdr() exactly as MLIAPDescriptorSO3 does), runs it on the same neighbour data, checks
   that it agrees with route 1, and stores the LAMMPS numbers in the fixture.

Independent checks printed (and stored under "checks"): the LAMMPS Y_lm equal scipy's sph_harm;
the covariant gradient formula equals finite differences of Y_lm; the quadrature radial integrals
against scipy.integrate.quad with scipy.special.spherical_in; W against an mpmath S^-1/2 at 50
digits; every stored derivative block against central finite differences of route 1.

Output: so3_reference.json. The C# test builds each structure, runs Mlip's So3 descriptor and
compares features and pair derivative blocks (matched by i, j and image shift) to 1e-10.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings

import mpmath
import numpy as np
from scipy import integrate, special

HERE = os.path.dirname(os.path.abspath(__file__))
PI = 3.14159265358979323846
SMALL = 1.0e-8


# ----------------------------------------------------------------------------------------------
# Route 1: transcription of LAMMPS MLIAP_SO3 (scalar Python floats where the operation order
# matters, so the numbers follow the C++ to the last bits wherever libm agrees).
# ----------------------------------------------------------------------------------------------

def powint(x, n):
    """MathSpecial::powint (binary exponentiation), n >= 0."""
    if n == 0:
        return 1.0
    if x == 0.0:
        return 0.0
    yy, ww, nn = 1.0, x, n
    while nn != 0:
        if nn & 1:
            yy *= ww
        nn >>= 1
        ww *= ww
    return yy


def lup_decompose(n, dtol, a, p):
    """SO3Math::LUPdecompose on a flat row-major list (in place)."""
    maxi = 0
    normi = [0.0] * n
    for i in range(n):
        max_a = 0.0
        for j in range(n):
            t = abs(a[i * n + j])
            if t > max_a:
                max_a = t
        if max_a < dtol:
            return 1
        normi[i] = 1.0 / max_a
    for j in range(n):
        for i in range(j):
            for k in range(i):
                a[i * n + j] -= a[i * n + k] * a[k * n + j]
        max_a = 0.0
        for i in range(j, n):
            for k in range(j):
                a[i * n + j] -= a[i * n + k] * a[k * n + j]
            t = abs(a[i * n + j]) * normi[i]
            if t >= max_a:
                max_a = t
                maxi = i
        if maxi != j:
            if j == n - 2 and a[j * n + j + 1] == 0.0:
                maxi = j
            else:
                for k in range(n):
                    a[j * n + k], a[maxi * n + k] = a[maxi * n + k], a[j * n + k]
                normi[maxi] = normi[j]
        p[j] = maxi
        if a[j * n + j] == 0.0:
            a[j * n + j] = dtol
        if j != n - 1:
            t = 1.0 / a[j * n + j]
            for i in range(j + 1, n):
                a[i * n + j] *= t
    return 0


def lup_solve(n, a, b, p):
    for i in range(n):
        d = b[p[i]]
        b[p[i]] = b[i]
        for j in range(i - 1, -1, -1):
            d -= a[i * n + j] * b[j]
        b[i] = d
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            b[i] -= a[i * n + j] * b[j]
        b[i] /= a[i * n + i]


def invert_matrix(n, a):
    t = list(a)
    p = [0] * n
    if lup_decompose(n, 1.0e-30, t, p) != 0:
        raise RuntimeError("Invert matrix Error in W calculation!")
    inv = [0.0] * (n * n)
    for i in range(n):
        b = [0.0] * n
        b[i] = 1.0
        lup_solve(n, t, b, p)
        for j in range(n):
            inv[j * n + i] = b[j]
    return inv


def jacobi_diagonalize(n, mat):
    """MathEigen::Jacobi::Diagonalize (max-element pivoting, SORT_DECREASING_EVALS), eigenvectors
    in rows, followed by the transpose done in SO3Math::jacobin (eigenvectors in columns)."""
    m = [[mat[i][j] for j in range(n)] for i in range(n)]
    ev = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]

    def max_entry_row(i):
        j_max = i + 1
        for j in range(i + 2, n):
            if abs(m[i][j]) > abs(m[i][j_max]):
                j_max = j
        return j_max

    mir = [0] * n
    for i in range(n - 1):
        mir[i] = max_entry_row(i)
    max_iters = 50 * n * (n - 1) // 2
    it = 0
    while it < max_iters:
        # MaxEntry
        i, j = 0, mir[0]
        best = abs(m[i][j])
        for r in range(1, n - 1):
            c = mir[r]
            if abs(m[r][c]) > best:
                best, i, j = abs(m[r][c]), r, c
        if m[i][i] + m[i][j] == m[i][i] and m[j][j] + m[i][j] == m[j][j]:
            m[i][j] = 0.0
            mir[i] = max_entry_row(i)
        if m[i][j] == 0.0:
            break
        # CalcRot
        t = 1.0
        mjj_ii = m[j][j] - m[i][i]
        if mjj_ii != 0.0:
            kappa = mjj_ii
            t = 0.0
            mij = m[i][j]
            if mij != 0.0:
                kappa /= (2.0 * mij)
                t = 1.0 / (math.sqrt(1 + kappa * kappa) + abs(kappa))
                if kappa < 0.0:
                    t = -t
        c = 1.0 / math.sqrt(1 + t * t)
        s = c * t
        # ApplyRot
        m[i][i] -= t * m[i][j]
        m[j][j] += t * m[i][j]
        m[i][j] = 0.0
        for w in range(0, i):
            m[i][w] = m[w][i]
            m[w][i] = c * m[w][i] - s * m[w][j]
            if i == mir[w]:
                mir[w] = max_entry_row(w)
            elif abs(m[w][i]) > abs(m[w][mir[w]]):
                mir[w] = i
        for w in range(i + 1, j):
            m[w][i] = m[i][w]
            m[i][w] = c * m[i][w] - s * m[w][j]
        for w in range(j + 1, n):
            m[w][i] = m[i][w]
            m[i][w] = c * m[i][w] - s * m[j][w]
        mir[i] = max_entry_row(i)
        for w in range(0, i):
            m[w][j] = s * m[i][w] + c * m[w][j]
            if j == mir[w]:
                mir[w] = max_entry_row(w)
            elif abs(m[w][j]) > abs(m[w][mir[w]]):
                mir[w] = j
        for w in range(i + 1, j):
            m[w][j] = s * m[w][i] + c * m[w][j]
            if j == mir[w]:
                mir[w] = max_entry_row(w)
            elif abs(m[w][j]) > abs(m[w][mir[w]]):
                mir[w] = j
        for w in range(j + 1, n):
            m[j][w] = s * m[w][i] + c * m[j][w]
        mir[j] = max_entry_row(j)
        # ApplyRotLeft
        for v in range(n):
            eiv = ev[i][v]
            ev[i][v] = c * ev[i][v] - s * ev[j][v]
            ev[j][v] = s * eiv + c * ev[j][v]
        it += 1
    evals = [m[i][i] for i in range(n)]
    for i in range(n - 1):  # SortRows, decreasing
        i_max = i
        for j in range(i + 1, n):
            if evals[j] > evals[i_max]:
                i_max = j
        evals[i], evals[i_max] = evals[i_max], evals[i]
        ev[i], ev[i_max] = ev[i_max], ev[i]
    cols = [[ev[j][i] for j in range(n)] for i in range(n)]  # transpose: eigenvectors in columns
    return evals, cols


def compute_w(nmax):
    """MLIAP_SO3::compute_W: W = V sqrt(D) V^-1 with (D, V) the eigen-decomposition of S^-1."""
    n = nmax
    arr = [0.0] * (n * n)
    for a in range(1, n + 1):
        t1 = (2 * a + 5) * (2 * a + 6) * (2 * a + 7)
        for b in range(1, a + 1):
            t2 = (2 * b + 5) * (2 * b + 6) * (2 * b + 7)
            arr[(a - 1) * n + b - 1] = math.sqrt(t1 * t2) / (5 + a + b) / (6 + a + b) / (7 + a + b)
            arr[(b - 1) * n + a - 1] = arr[(a - 1) * n + b - 1]
    arrinv = invert_matrix(n, arr)
    evals, v = jacobi_diagonalize(n, [[arrinv[i * n + j] for j in range(n)] for i in range(n)])
    veig = [v[i][j] for i in range(n) for j in range(n)]
    sqrtd = [math.sqrt(evals[i]) if i == j else 0.0 for i in range(n) for j in range(n)]
    temp = [0.0] * (n * n)
    for i in range(n):
        for j in range(n):
            d = 0.0
            for k in range(n):
                d += veig[i * n + k] * sqrtd[k * n + j]
            temp[i * n + j] = d
    vinv = invert_matrix(n, veig)
    w = [0.0] * (n * n)
    for i in range(n):
        for j in range(n):
            d = 0.0
            for k in range(n):
                d += temp[i * n + k] * vinv[k * n + j]
            w[i * n + j] = d
    return w


class LammpsSo3:
    def __init__(self, rcut, nmax, lmax, alpha):
        self.rcut, self.nmax, self.lmax, self.alpha = rcut, nmax, lmax, alpha
        self.nq = (nmax + lmax + 1) * 10
        self.ncoeff = nmax * (nmax + 1) * (lmax + 1) // 2
        self.w = compute_w(nmax)
        # init_garray
        nq = self.nq
        self.g = [[0.0] * nq for _ in range(nmax)]
        for i in range(1, nq + 1):
            x = math.cos((2 * i - 1) * PI / 2 / nq)
            xi = rcut / 2 * (x + 1)
            for n in range(1, nmax + 1):
                self.g[n - 1][i - 1] = (rcut / 2 * PI / nq * math.sqrt(1 - x * x) * xi * xi
                                        * self.radial_g(xi, n) * math.exp(-alpha * xi * xi))

    def phi(self, r, a):
        rc = self.rcut
        return powint(rc - r, a + 2) / math.sqrt(2 * powint(rc, 2 * a + 7) / (2 * a + 5) / (2 * a + 6) / (2 * a + 7))

    def radial_g(self, r, n):
        s = 0.0
        for a in range(1, self.nmax + 1):
            s += self.w[(n - 1) * self.nmax + a - 1] * self.phi(r, a)
        return s

    def sbes(self, ri):
        """get_sbes_array for one pair: i_l(rb) and xi * i_l'(rb), rb = alpha rcut ri (x+1)."""
        lmax, nq = self.lmax, self.nq
        pfac1 = self.alpha * self.rcut
        pfac4 = self.rcut / 2.0
        pfac3 = PI / 2.0 / nq
        pfac2 = pfac1 * ri
        val = [[0.0] * (lmax + 2) for _ in range(nq)]
        der = [[0.0] * (lmax + 2) for _ in range(nq)]
        for i in range(1, nq + 1):
            a, d = val[i - 1], der[i - 1]
            x = math.cos((2 * i - 1) * pfac3)
            xi = pfac4 * (x + 1)
            rb = pfac2 * (x + 1)
            sa = math.sinh(rb) / rb
            sb = (math.cosh(rb) - sa) / rb
            a[0] = sa
            a[1] = sb
            j = 2
            while j < lmax + 1:
                a[j] = a[j - 2] - (2 * j - 1) / rb * a[j - 1]
                j += 1
            exts = a[j - 2] - (2 * j - 1) / rb * a[j - 1]
            d[0] = sb
            j = 1
            while j < lmax:
                d[j] = xi * (j * a[j - 1] + (j + 1) * a[j + 1]) / (2 * j + 1)
                j += 1
            d[j] = xi * (j * a[j - 1] + (j + 1) * exts) / (2 * j + 1)
            d[0] = xi * sb
        return val, der

    def rip(self, ri):
        """get_rip_array for one pair: 4 pi e^(-alpha r^2) * quadrature, and its d/dr partner."""
        val, der = self.sbes(ri)
        expfac = 4 * PI * math.exp(-self.alpha * ri * ri)
        r_int = [[0.0] * (self.lmax + 1) for _ in range(self.nmax)]
        r_der = [[0.0] * (self.lmax + 1) for _ in range(self.nmax)]
        for n in range(self.nmax):
            gn = self.g[n]
            for l in range(self.lmax + 1):
                s = 0.0
                sd = 0.0
                for i in range(self.nq):
                    s += gn[i] * val[i][l]
                    sd += gn[i] * der[i][l]
                r_int[n][l] = s * expfac
                r_der[n][l] = sd * expfac
        return r_int, r_der

    def ylms(self, x, y, z, r, lmax_y):
        """compute_uarray_recursive (twol = 2 lmax_y) + m_idxylm + m_pfac: complex Y_lm, l <= lmax_y."""
        twol = 2 * lmax_y
        ldim = twol + 1
        rootpq = [[0.0] * ldim for _ in range(ldim)]
        for p in range(1, ldim):
            for q in range(1, ldim):
                rootpq[p][q] = math.sqrt(p / q)
        idxu_block, idxylm, cnt = [], [], 0
        for l in range(ldim):
            idxu_block.append(cnt)
            for mb in range(l + 1):
                for ma in range(l + 1):
                    if l % 2 == 0 and ma == l // 2:
                        idxylm.append(cnt)
                    cnt += 1
        ur, ui = [0.0] * cnt, [0.0] * cnt
        theta = math.acos(z / r)
        phi = math.atan2(y, x)
        at, bt = math.cos(theta / 2), math.sin(theta / 2)
        apr, api = math.cos(phi / 2), math.sin(phi / 2)
        ar, ai, br, bi = at * apr, at * api, bt * apr, bt * api
        ur[0], ui[0] = 1.0, 0.0
        for l in range(1, ldim):
            llu, llup, mb = idxu_block[l], idxu_block[l - 1], 0
            while 2 * mb <= l:
                ur[llu] = 0.0
                ui[llu] = 0.0
                for ma in range(l):
                    rp = rootpq[l - ma][l - mb]
                    ur[llu] += rp * (ar * ur[llup] + ai * ui[llup])
                    ui[llu] += rp * (ar * ui[llup] - ai * ur[llup])
                    rp = rootpq[ma + 1][l - mb]
                    ur[llu + 1] += -rp * (br * ur[llup] + bi * ui[llup])
                    ui[llu + 1] += -rp * (br * ui[llup] - bi * ur[llup])
                    llu += 1
                    llup += 1
                llu += 1
                mb += 1
            llu = idxu_block[l]
            llup = llu + (l + 1) * (l + 1) - 1
            mbpar, mb = 1, 0
            while 2 * mb <= l:
                mapar = mbpar
                for ma in range(l + 1):
                    if mapar == 1:
                        ur[llup], ui[llup] = ur[llu], -ui[llu]
                    else:
                        ur[llup], ui[llup] = -ur[llu], ui[llu]
                    mapar = -mapar
                    llu += 1
                    llup -= 1
                mbpar = -mbpar
                mb += 1
        yr, yi = [], []
        i = 0
        for l in range(lmax_y + 1):
            for m in range(-l, l + 1):
                pf = math.sqrt((2.0 * l + 1.0) * (1.0 / 4.0 / PI)) * (-1.0 if m & 1 else 1.0)
                yr.append(ur[idxylm[i]] * pf)
                yi.append(ui[idxylm[i]] * pf)
                i += 1
        return yr, yi

    def dylms(self, r, yr, yi):
        """Cartesian gradient of Y_lm(r/|r|) from Y_(l+-1, m+-1) (the compute_carray_wD block)."""
        lmax = self.lmax
        n = (lmax + 1) ** 2
        dr = [[0.0] * 3 for _ in range(n)]
        di = [[0.0] * 3 for _ in range(n)]
        comj_i = 1.0 / math.sqrt(2.0)
        oneofr = 1.0 / r
        i = 1
        for l in range(1, lmax + 1):
            ellpl1 = sum(2 * k for k in range(0, l + 2))
            ellm1 = sum(2 * k for k in range(0, l))
            for m in range(-l, l + 1):
                f0 = -math.sqrt(((l + 1.0) * (l + 1.0) - m * m) / (2.0 * l + 1.0) / (2.0 * l + 3.0)) * l * oneofr
                f1 = math.sqrt((l * l - m * m) / (2.0 * l - 1.0) / (2.0 * l + 1.0)) * (l + 1.0) * oneofr
                f2 = -math.sqrt((l + m + 1.0) * (l + m + 2.0) / 2.0 / (2.0 * l + 1.0) / (2.0 * l + 3.0)) * l * oneofr
                f3 = math.sqrt((l - m - 1.0) * (l - m) / 2.0 / (2.0 * l - 1.0) / (2.0 * l + 1.0)) * (l + 1.0) * oneofr
                f4 = -math.sqrt((l - m + 1.0) * (l - m + 2.0) / 2.0 / (2.0 * l + 1.0) / (2.0 * l + 3.0)) * l * oneofr
                f5 = math.sqrt((l + m - 1.0) * (l + m) / 2.0 / (2.0 * l - 1.0) / (2.0 * l + 1.0)) * (l + 1.0) * oneofr
                c0r = f0 * yr[ellpl1 + m]
                c0i = f0 * yi[ellpl1 + m]
                if abs(m) <= l - 1.0:
                    c0r += f1 * yr[ellm1 + m]
                    c0i += f1 * yi[ellm1 + m]
                cpr = f2 * yr[ellpl1 + m + 1]
                cpi = f2 * yi[ellpl1 + m + 1]
                if abs(m + 1) <= l - 1.0:
                    cpr -= f3 * yr[ellm1 + m + 1]
                    cpi -= f3 * yi[ellm1 + m + 1]
                cmr = f4 * yr[ellpl1 + m - 1]
                cmi = f4 * yi[ellpl1 + m - 1]
                if abs(m - 1.0) <= l - 1.0:
                    cmr -= f5 * yr[ellm1 + m - 1]
                    cmi -= f5 * yi[ellm1 + m - 1]
                dr[i] = [1.0 / math.sqrt(2.0) * (cmr - cpr), -comj_i * (cmi + cpi), c0r]
                di[i] = [1.0 / math.sqrt(2.0) * (cmi - cpi), comj_i * (cmr + cpr), c0i]
                i += 1
        return dr, di

    @staticmethod
    def sfac(r, rc):
        return 0.0 if r > rc else 0.5 * (math.cos(PI * r / rc) + 1.0)

    @staticmethod
    def dsfac(r, rc):
        return 0.0 if r > rc else -0.5 * PI / rc * math.sin(PI * r / rc)

    def centre(self, neighbours, derivatives=True):
        """spectrum + spectrum_dxdr for one centre. neighbours: list of (weight as LAMMPS int, vec)."""
        nmax, lmax, rc, alpha = self.nmax, self.lmax, self.rcut, self.alpha
        ny = (lmax + 1) ** 2
        ctr = np.zeros((nmax, ny))
        cti = np.zeros((nmax, ny))
        per = []
        for weight, v in neighbours:
            x, y, z = v
            r = math.sqrt(x * x + y * y + z * z)
            if r < SMALL:
                per.append(None)
                continue
            yr, yi = self.ylms(x, y, z, r, lmax + 1)
            r_int, r_der = self.rip(r)
            sf = self.sfac(r, rc)
            cr = np.zeros((nmax, ny))
            ci = np.zeros((nmax, ny))
            for n in range(nmax):
                i = 0
                for l in range(lmax + 1):
                    for m in range(-l, l + 1):
                        cr[n, i] += r_int[n][l] * yr[i] * sf
                        ci[n, i] += r_int[n][l] * yi[i] * sf
                        i += 1
            ctr += cr * float(weight)
            cti += ci * float(weight)
            per.append((weight, v, r, yr, yi, r_int, r_der))
        p = np.zeros(self.ncoeff)
        k = 0
        for n1 in range(nmax):
            for n2 in range(n1 + 1):
                j = 0
                for l in range(lmax + 1):
                    norm = 2.0 * math.sqrt(2.0) * PI / math.sqrt(2.0 * l + 1.0)
                    for m in range(-l, l + 1):
                        p[k] += (ctr[n1, j] * ctr[n2, j] + cti[n1, j] * cti[n2, j]) * norm
                        j += 1
                    k += 1
        if not derivatives:
            return p, None
        grads = []
        for item in per:
            if item is None:
                grads.append(np.zeros((self.ncoeff, 3)))
                continue
            weight, v, r, yr, yi, r_int, r_der = item
            dyr, dyi = self.dylms(r, yr, yi)
            dexp = [-2.0 * alpha * v[c] for c in range(3)]
            sf, dsf = self.sfac(r, rc), self.dsfac(r, rc)
            dsf_arr = [dsf * v[c] / r for c in range(3)]
            dcr = np.zeros((nmax, ny, 3))
            dci = np.zeros((nmax, ny, 3))
            for n in range(nmax):
                i = 0
                for l in range(lmax + 1):
                    ri_, rd_ = r_int[n][l], r_der[n][l]
                    dri = [rd_ * 2.0 * alpha * v[c] / r for c in range(3)]
                    for m in range(-l, l + 1):
                        for c in range(3):
                            dcr[n, i, c] += (ri_ * yr[i] * dexp[c] + dri[c] * yr[i] + ri_ * dyr[i][c]) * sf
                            dci[n, i, c] += (ri_ * yi[i] * dexp[c] + dri[c] * yi[i] + ri_ * dyi[i][c]) * sf
                            dcr[n, i, c] += (ri_ * yr[i]) * dsf_arr[c]
                            dci[n, i, c] += (ri_ * yi[i]) * dsf_arr[c]
                        i += 1
            dcr *= float(weight)
            dci *= float(weight)
            dp = np.zeros((self.ncoeff, 3))
            k = 0
            for n1 in range(nmax):
                for n2 in range(n1 + 1):
                    j = 0
                    for l in range(lmax + 1):
                        norm = 2.0 * math.sqrt(2.0) * PI / math.sqrt(2.0 * l + 1.0)
                        for m in range(-l, l + 1):
                            t = dcr[n1, j] * ctr[n2, j] + dci[n1, j] * cti[n2, j]
                            t += ctr[n1, j] * dcr[n2, j] + cti[n1, j] * dci[n2, j]
                            dp[k] += t * norm
                            j += 1
                        k += 1
            grads.append(dp)
        return p, grads


# ----------------------------------------------------------------------------------------------
# Structures and neighbour lists (LAMMPS keeps a pair when r^2 < ((rad_i + rad_j) rcutfac)^2)
# ----------------------------------------------------------------------------------------------

def random_cell(seed, symbols, atoms, min_distance, length):
    rng = np.random.default_rng(seed)
    cell = np.array([
        [length * (0.9 + 0.2 * rng.random()), 0.5 * (rng.random() - 0.5), 0.5 * (rng.random() - 0.5)],
        [1.0 * (rng.random() - 0.5), length * (0.9 + 0.2 * rng.random()), 0.5 * (rng.random() - 0.5)],
        [1.0 * (rng.random() - 0.5), 1.0 * (rng.random() - 0.5), length * (0.9 + 0.2 * rng.random())]])
    pos = []
    while len(pos) < atoms:
        p = rng.random(3) @ cell
        ok = True
        for q in pos:
            for s in shifts(cell, min_distance):
                if np.linalg.norm(q + s @ cell - p) < min_distance:
                    ok = False
        if ok:
            pos.append(p)
    numbers = [ATOMIC_NUMBER[symbols[k % len(symbols)]] for k in range(atoms)]
    return cell, np.array(pos), numbers


ATOMIC_NUMBER = {"Si": 14, "O": 8, "Ni": 28, "Mo": 42}


def shifts(cell, cutoff):
    inv = np.linalg.inv(cell)
    heights = 1.0 / np.linalg.norm(inv, axis=0)  # plane spacings
    n = [int(math.ceil(cutoff / h)) + 1 for h in heights]
    return [np.array([a, b, c]) for a in range(-n[0], n[0] + 1) for b in range(-n[1], n[1] + 1)
            for c in range(-n[2], n[2] + 1)]


def pair_vector(ri, rj, cell, s):
    """Same expression as Mlip's NeighborList.PairVector."""
    tx = s[0] * cell[0][0] + s[1] * cell[1][0] + s[2] * cell[2][0]
    ty = s[0] * cell[0][1] + s[1] * cell[1][1] + s[2] * cell[2][1]
    tz = s[0] * cell[0][2] + s[1] * cell[1][2] + s[2] * cell[2][2]
    return [rj[0] - ri[0] + tx, rj[1] - ri[1] + ty, rj[2] - ri[2] + tz]


def neighbour_lists(case, cell, pos, numbers):
    elems = case["elements"]
    elem_of = [elems.index(next(k for k, v in ATOMIC_NUMBER.items() if v == z)) for z in numbers]
    rad = case["radelems"]
    rc = case["rcutfac"]
    cutsq = [[((rad[a] + rad[b]) * rc) ** 2 if a != b else (2.0 * rad[a] * rc) ** 2 for b in range(len(elems))]
             for a in range(len(elems))]
    cutmax = max(math.sqrt(c) for row in cutsq for c in row)
    cl = [list(map(float, row)) for row in cell]
    pl = [list(map(float, p)) for p in pos]
    out = []
    for i in range(len(pl)):
        lst = []
        for j in range(len(pl)):
            for s in shifts(cell, cutmax):
                if i == j and not s.any():
                    continue
                v = pair_vector(pl[i], pl[j], cl, s)
                rsq = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
                if rsq < cutsq[elem_of[i]][elem_of[j]]:
                    lst.append((j, [int(t) for t in s], elem_of[j], v))
        lst.sort(key=lambda t: (t[0], t[1]))
        out.append(lst)
    return out, elem_of


# ----------------------------------------------------------------------------------------------
# Route 2: LAMMPS's own mliap_so3.cpp through the harness
# ----------------------------------------------------------------------------------------------

def build_harness(lammps_src):
    src = os.path.join(lammps_src, "src")
    exe = os.path.join(tempfile.mkdtemp(prefix="so3h"), "so3_harness")
    cmd = ["g++", "-O3", "-DNDEBUG", "-std=c++11", "-I" + os.path.join(HERE, "so3_lammps_harness"),
           "-I" + os.path.join(src, "ML-IAP"), "-I" + src, os.path.join(HERE, "so3_lammps_harness", "harness.cpp"),
           os.path.join(src, "ML-IAP", "mliap_so3.cpp"), "-o", exe]
    subprocess.run(cmd, check=True)
    return exe


def run_harness(exe, case, nlists):
    lines = [f"{case['nmax']} {case['lmax']} {case['alpha']!r} {case['rcutfac']!r}",
             " ".join([str(len(case['elements']))] + [repr(float(w)) for w in case["welems"]]),
             str(len(nlists))]
    for lst in nlists:
        lines.append(str(len(lst)))
        for (_, _, e, v) in lst:
            lines.append(f"{e} {v[0]!r} {v[1]!r} {v[2]!r}")
    res = subprocess.run([exe], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    rows = res.stdout.split("\n")
    ncoeff, npairs = map(int, rows[0].split())
    natoms = len(nlists)
    feats = np.array([[float(t) for t in rows[1 + i].split()] for i in range(natoms)])
    grads = np.array([[float(t) for t in rows[1 + natoms + p].split()] for p in range(npairs)]).reshape(npairs, ncoeff, 3)
    return feats, grads


# ----------------------------------------------------------------------------------------------
# Independent checks
# ----------------------------------------------------------------------------------------------

def check_ylm(model, vectors):
    worst_val, worst_grad = 0.0, 0.0
    for v in vectors:
        x, y, z = v
        r = math.sqrt(x * x + y * y + z * z)
        yr, yi = model.ylms(x, y, z, r, model.lmax + 1)
        theta, phi = math.acos(z / r), math.atan2(y, x)
        i = 0
        for l in range(model.lmax + 2):
            for m in range(-l, l + 1):
                ref = special.sph_harm(m, l, phi, theta)
                worst_val = max(worst_val, abs(complex(yr[i], yi[i]) - ref))
                i += 1
        dyr, dyi = model.dylms(r, yr, yi)
        h = 1e-6
        for c in range(3):
            vp, vm = list(v), list(v)
            vp[c] += h
            vm[c] -= h
            ypr, ypi = model.ylms(*vp, math.sqrt(sum(t * t for t in vp)), model.lmax)
            ymr, ymi = model.ylms(*vm, math.sqrt(sum(t * t for t in vm)), model.lmax)
            for i in range((model.lmax + 1) ** 2):
                fd = complex((ypr[i] - ymr[i]) / (2 * h), (ypi[i] - ymi[i]) / (2 * h))
                worst_grad = max(worst_grad, abs(complex(dyr[i][c], dyi[i][c]) - fd))
    return worst_val, worst_grad


def check_radial(model, radii):
    """LAMMPS quadrature vs adaptive quadrature of 4 pi e^(-a r^2) int_0^rc x^2 g_n(x) e^(-a x^2) i_l(2 a r x) dx."""
    worst = 0.0
    scale = 0.0
    for r in radii:
        r_int, _ = model.rip(r)
        for n in range(model.nmax):
            for l in range(model.lmax + 1):
                f = lambda x: x * x * model.radial_g(x, n + 1) * math.exp(-model.alpha * x * x) * special.spherical_in(l, 2 * model.alpha * r * x)
                ref, _ = integrate.quad(f, 0.0, model.rcut, epsabs=1e-14, epsrel=1e-13, limit=200)
                ref *= 4 * PI * math.exp(-model.alpha * r * r)
                worst = max(worst, abs(r_int[n][l] - ref))
                scale = max(scale, abs(ref))
    return worst / scale


def check_w(nmax):
    mpmath.mp.dps = 50
    s = mpmath.matrix(nmax, nmax)
    for a in range(1, nmax + 1):
        for b in range(1, nmax + 1):
            t = (2 * a + 5) * (2 * a + 6) * (2 * a + 7) * (2 * b + 5) * (2 * b + 6) * (2 * b + 7)
            s[a - 1, b - 1] = mpmath.sqrt(t) / (5 + a + b) / (6 + a + b) / (7 + a + b)
    e, q = mpmath.eigsy(s)
    w = q * mpmath.diag([1 / mpmath.sqrt(x) for x in e]) * q.T
    exact = np.array(w.tolist(), dtype=float).ravel()
    lam = np.array(compute_w(nmax))
    return float(np.max(np.abs(lam - exact)) / np.max(np.abs(exact)))


def fd_check(model, nlist_i, grads, weights):
    """Central differences of route 1 for every pair of one centre; returns the worst scaled error."""
    h = 1e-5
    worst, scale = 0.0, 0.0
    base = [(weights[e], list(v)) for (_, _, e, v) in nlist_i]
    for p in range(len(base)):
        for c in range(3):
            plus = [(w, list(v)) for (w, v) in base]
            minus = [(w, list(v)) for (w, v) in base]
            plus[p][1][c] += h
            minus[p][1][c] -= h
            fp, _ = model.centre(plus, derivatives=False)
            fm, _ = model.centre(minus, derivatives=False)
            fd = (fp - fm) / (2 * h)
            worst = max(worst, float(np.max(np.abs(fd - grads[p][:, c]))))
            scale = max(scale, float(np.max(np.abs(fd))))
    return worst / scale


# ----------------------------------------------------------------------------------------------

CASES = [
    # The "SO3-40" setting of the benchmark (nmax 4, lmax 3, alpha 2, rc 4.9) with PyXtal_FF's
    # element weights (atomic numbers, as its LAMMPS export writes them).
    dict(name="SiO_nmax4_lmax3", rcutfac=4.9, nmax=4, lmax=3, alpha=2.0, elements=["Si", "O"],
         radelems=[0.5, 0.5], welems=[14.0, 8.0], seed=11, atoms=8, min_distance=1.6, length=5.5,
         gradient_centres=[0, 1]),
    # Larger nmax (W = S^-1/2 is ill-conditioned: the LAMMPS algorithm matters at 1e-9),
    # radii below 0.5 (hard per-element-pair cutoffs before rcutfac) and non-integer welems
    # (LAMMPS stores them in an int: 2.9 -> 2).
    dict(name="SiO_nmax6_lmax4_radii_weights", rcutfac=4.2, nmax=6, lmax=4, alpha=1.5, elements=["Si", "O"],
         radelems=[0.5, 0.45], welems=[1.0, 2.9], seed=12, atoms=7, min_distance=1.5, length=5.0,
         gradient_centres=[1]),
    # lmax = 0 and radii above 0.5 (pairs beyond rcutfac are listed but contribute nothing).
    dict(name="Si_nmax3_lmax0", rcutfac=3.6, nmax=3, lmax=0, alpha=1.0, elements=["Si"],
         radelems=[0.6], welems=[1.0], seed=13, atoms=5, min_distance=2.0, length=5.2,
         gradient_centres="all"),
    # lmax = 6 with a wide Gaussian: the upward Bessel recurrence loses most digits of i_5, i_6 at
    # the first quadrature points, so R_n6 carries large noise (relative error ~1e1 against exact
    # i_l). Part of LAMMPS's definition: matching it needs the same recurrence, operation by operation.
    dict(name="Si_nmax2_lmax6_alpha0.5", rcutfac=4.0, nmax=2, lmax=6, alpha=0.5, elements=["Si"],
         radelems=[0.5], welems=[14.0], seed=14, atoms=4, min_distance=2.0, length=5.0,
         gradient_centres=[0], bessel_noise=True),
]


def main():
    warnings.simplefilter("ignore", integrate.IntegrationWarning)
    ap = argparse.ArgumentParser()
    ap.add_argument("--lammps-src", help="LAMMPS source tree (with src/ML-IAP/mliap_so3.cpp)")
    ap.add_argument("--out", default=os.path.join(HERE, "so3_reference.json"))
    args = ap.parse_args()

    exe = build_harness(args.lammps_src) if args.lammps_src else None
    result = {"generator": "tests/Mlip.Tests/Data/make_so3_reference.py",
              "values_from": ("LAMMPS mliap_so3.cpp (" + os.path.basename(os.path.abspath(args.lammps_src)) + ") via so3_lammps_harness"
                              if exe else "numpy transcription of LAMMPS mliap_so3.cpp"),
              "cases": []}
    for case in CASES:
        cell, pos, numbers = random_cell(case["seed"], case["elements"], case["atoms"], case["min_distance"], case["length"])
        nlists, elem_of = neighbour_lists(case, cell, pos, numbers)
        weights = [int(w) for w in case["welems"]]  # LAMMPS: int weight = wjelem[jelem]
        model = LammpsSo3(case["rcutfac"], case["nmax"], case["lmax"], case["alpha"])
        feats, grads = [], []
        for lst in nlists:
            p, g = model.centre([(weights[e], v) for (_, _, e, v) in lst])
            feats.append(p)
            grads.extend(g)
        feats = np.array(feats)
        grads = np.array(grads)
        checks = {}
        if exe:
            lf, lg = run_harness(exe, case, nlists)
            checks["lammps_vs_transcription_features"] = float(np.max(np.abs(lf - feats)) / np.max(np.abs(lf)))
            checks["lammps_vs_transcription_gradients"] = float(np.max(np.abs(lg - grads)) / np.max(np.abs(lg)))
            assert checks["lammps_vs_transcription_features"] < 1e-12, checks
            assert checks["lammps_vs_transcription_gradients"] < 1e-12, checks
            feats, grads = lf, lg
        vecs = [v for lst in nlists for (_, _, _, v) in lst]
        checks["ylm_vs_scipy_sph_harm_abs"], checks["dylm_vs_finite_difference_abs"] = check_ylm(model, vecs[:12])
        checks["radial_quadrature_vs_scipy_quad_rel"] = check_radial(model, [0.9, 1.7, 2.6, 3.4])
        checks["w_vs_mpmath_rel"] = check_w(case["nmax"])
        centres = range(len(nlists)) if case["gradient_centres"] == "all" else case["gradient_centres"]
        offsets = np.cumsum([0] + [len(l) for l in nlists])
        checks["pair_gradients_vs_finite_difference_rel"] = max(
            fd_check(model, nlists[i], grads[offsets[i]:offsets[i + 1]], weights) for i in list(centres)[:2])
        assert checks["ylm_vs_scipy_sph_harm_abs"] < 1e-12, checks
        assert checks["dylm_vs_finite_difference_abs"] < 1e-8, checks
        if not case.get("bessel_noise"):  # otherwise the noise defeats finite differences (LAMMPS's too)
            assert checks["pair_gradients_vs_finite_difference_rel"] < 1e-6, checks
        print(case["name"], json.dumps(checks), file=sys.stderr)

        pairs = []
        for i in centres:
            for k, (j, s, _, _) in enumerate(nlists[i]):
                pairs.append({"i": i, "j": j, "shift": s, "grad": [float(t) for t in grads[offsets[i] + k].ravel()]})
        entry = {k: case[k] for k in ("name", "rcutfac", "nmax", "lmax", "alpha", "elements", "radelems", "welems")}
        entry.update({
            "cell": [[float(t) for t in row] for row in cell],
            "positions": [[float(t) for t in p] for p in pos],
            "numbers": numbers,
            "pair_counts": [len(l) for l in nlists],
            "features": [[float(t) for t in row] for row in feats],
            "gradient_centres": list(centres),
            "pairs": pairs,
            "checks": checks,
        })
        result["cases"].append(entry)
    text = json.dumps(result, indent=1)
    # one line per list of numbers (features of one atom, gradient block of one pair)
    text = re.sub(r"\[[-+0-9.eE,\s]*\]", lambda m: re.sub(r"\s+", "", m.group(0)).replace(",", ", "), text)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    print("wrote", args.out, file=sys.stderr)


if __name__ == "__main__":
    main()
