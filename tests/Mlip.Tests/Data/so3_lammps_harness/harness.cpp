// Drives LAMMPS's MLIAP_SO3 (src/ML-IAP/mliap_so3.cpp, compiled unmodified next to this file) the
// way MLIAPDescriptorSO3 does: constructor(rcutfac, lmax, nmax, alpha), init(), spectrum(),
// spectrum_dxdr(). Reads the neighbour data from stdin, writes descriptors and per-pair
// derivatives to stdout with 17 significant digits. Written for Mlip's SO(3) reference fixture.
//
// stdin:  nmax lmax alpha rcutfac
//         nelems w_0 ... w_{nelems-1}        (welems as doubles; LAMMPS converts them itself)
//         natoms
//         then per atom: numneigh, followed by numneigh lines "jelem dx dy dz" (r_ij = r_j - r_i)
// stderr: wall-clock seconds of spectrum() and spectrum_dxdr()
// stdout: ncoeff npairs
//         natoms lines of ncoeff descriptors
//         npairs lines of ncoeff*3 derivatives d(B_i)/d(r_ij), [coeff][xyz]
#include "mliap_so3.h"

#include <chrono>
#include <cstdio>
#include <vector>

using namespace LAMMPS_NS;

int main()
{
  int nmax, lmax, nelems, natoms;
  double alpha, rcutfac;
  if (scanf("%d %d %lf %lf", &nmax, &lmax, &alpha, &rcutfac) != 4) return 1;
  if (scanf("%d", &nelems) != 1) return 1;
  std::vector<double> wjelem(nelems);
  for (auto &w : wjelem)
    if (scanf("%lf", &w) != 1) return 1;
  if (scanf("%d", &natoms) != 1) return 1;
  std::vector<int> numneighs(natoms), jelems;
  std::vector<double> flat;
  for (int i = 0; i < natoms; i++) {
    if (scanf("%d", &numneighs[i]) != 1) return 1;
    for (int k = 0; k < numneighs[i]; k++) {
      int e;
      double x, y, z;
      if (scanf("%d %lf %lf %lf", &e, &x, &y, &z) != 4) return 1;
      jelems.push_back(e);
      flat.push_back(x);
      flat.push_back(y);
      flat.push_back(z);
    }
  }
  bigint npairs = static_cast<bigint>(jelems.size());
  std::vector<double *> rij(npairs + 1);
  for (bigint p = 0; p < npairs; p++) rij[p] = &flat[3 * p];

  LAMMPS lmp;
  MLIAP_SO3 so3(&lmp, rcutfac, lmax, nmax, alpha);
  so3.init();
  int ncoeff = so3.ncoeff;
  auto t0 = std::chrono::steady_clock::now();
  so3.spectrum(natoms, numneighs.data(), jelems.data(), wjelem.data(), rij.data(), nmax, lmax,
               rcutfac, alpha, ncoeff);
  auto t1 = std::chrono::steady_clock::now();
  std::vector<double> plist(so3.m_plist_r, so3.m_plist_r + static_cast<size_t>(natoms) * ncoeff);
  auto t2 = std::chrono::steady_clock::now();
  so3.spectrum_dxdr(natoms, numneighs.data(), jelems.data(), wjelem.data(), rij.data(), nmax, lmax,
                    rcutfac, alpha, npairs, ncoeff);
  auto t3 = std::chrono::steady_clock::now();
  fprintf(stderr, "spectrum %.6f s, spectrum_dxdr %.6f s\n", std::chrono::duration<double>(t1 - t0).count(),
          std::chrono::duration<double>(t3 - t2).count());

  printf("%d %lld\n", ncoeff, static_cast<long long>(npairs));
  for (int i = 0; i < natoms; i++) {
    for (int k = 0; k < ncoeff; k++) printf(k ? " %.17g" : "%.17g", plist[static_cast<size_t>(i) * ncoeff + k]);
    printf("\n");
  }
  for (bigint p = 0; p < npairs; p++) {
    for (int k = 0; k < 3 * ncoeff; k++) printf(k ? " %.17g" : "%.17g", so3.m_dplist_r[p * 3 * ncoeff + k]);
    printf("\n");
  }
  return 0;
}
