#include "blockv2/err.h"

const char *bm_strerror(int err)
{
    switch (err) {
#define BM_ERR_STR_(name, val, desc)                                           \
    case (val):                                                                \
        return (desc);
        BM_ERR_MAP(BM_ERR_STR_)
#undef BM_ERR_STR_
    default:
        return "unknown error";
    }
}

const char *bm_err_name(int err)
{
    switch (err) {
#define BM_ERR_NAME_(name, val, desc)                                          \
    case (val):                                                                \
        return "BM_" #name;
        BM_ERR_MAP(BM_ERR_NAME_)
#undef BM_ERR_NAME_
    default:
        return "BM_EUNKNOWN";
    }
}
