// Minimal stand-ins for the LAMMPS classes that ML-IAP's mliap_so3.cpp uses (Pointers, Memory,
// Error, bigint, FLERR), so that file can be compiled unmodified outside LAMMPS. Written for Mlip's
// SO(3) reference fixture (see ../make_so3_reference.py); not LAMMPS code.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#define FLERR __FILE__, __LINE__

namespace LAMMPS_NS {

typedef int64_t bigint;

class Memory {
 public:
  // Zeroed and padded: with lmax = 0, get_sbes_array writes one slot past each quadrature block.
  template <typename T> T *create(T *&array, bigint n, const char *)
  {
    array = static_cast<T *>(calloc(static_cast<size_t>(n) + 64, sizeof(T)));
    return array;
  }
  template <typename T> void destroy(T *&array)
  {
    free(array);
    array = nullptr;
  }
};

class Error {
 public:
  [[noreturn]] void all(const char *file, int line, const std::string &message)
  {
    fprintf(stderr, "ERROR %s:%d: %s\n", file, line, message.c_str());
    exit(2);
  }
  [[noreturn]] void one(const char *file, int line, const std::string &message) { all(file, line, message); }
};

class LAMMPS {
 public:
  Memory *memory = new Memory();
  Error *error = new Error();
};

class Pointers {
 public:
  explicit Pointers(LAMMPS *ptr) : lmp(ptr), memory(ptr->memory), error(ptr->error) {}

 protected:
  LAMMPS *lmp;
  Memory *&memory;
  Error *&error;
};

}    // namespace LAMMPS_NS
