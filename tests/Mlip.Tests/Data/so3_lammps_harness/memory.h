#pragma once
#include "pointers.h"
