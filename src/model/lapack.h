/* The LAPACK routines Arrakis calls, through their Fortran interface
 * (OpenBLAS exports them; no LAPACKE needed).  Column-major, 32-bit
 * integers (LP64), arguments by pointer; character arguments carry their
 * hidden lengths at the end, as gfortran passes them. */
#ifndef ARK_LAPACK_H
#define ARK_LAPACK_H

#include <stddef.h>

/* QR factorisation A = Q R (R in the upper triangle, Q as reflectors). */
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
/* Form the first n columns of Q from dgeqrf's reflectors. */
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
             const int *lwork, int *info);
/* SVD by divide and conquer: A = U diag(s) VT. */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info,
             size_t jobz_len);
/* SVD (QR iteration), single precision. */
void sgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork, int *info,
             size_t jobu_len, size_t jobvt_len);
/* Eigenvalues (and optionally vectors) of a general square matrix. */
void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda, double *wr, double *wi,
            double *vl, const int *ldvl, double *vr, const int *ldvr, double *work, const int *lwork, int *info,
            size_t jobvl_len, size_t jobvr_len);

#endif
