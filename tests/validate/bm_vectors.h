/*
 * Derived test vectors of spec ../shared/spec/evnode-protocol.md section
 * 2.6 as hex strings (shared by tests/validate and tests/cli).
 */
#ifndef BM_TESTS_VALIDATE_BM_VECTORS_H
#define BM_TESTS_VALIDATE_BM_VECTORS_H

/* RFC 8032 test key 1. */
#define VEC_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define VEC_V1_PUB "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define VEC_V2_ADDR "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
#define VEC_V3_LIBP2P "08011220" VEC_V1_PUB
#define VEC_V4_DATA "12037478311203747832"
#define VEC_V5_COMMIT "a1f4ef20834f538e8169ab5b5e3ec0e58b426c6db1d73ec1e03a0ab80ef29341"
#define VEC_V6_EMPTY "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
#define VEC_V7_HEADER                                                          \
    "0a001002188080a8b1e39fe7cb17222011111111111111111111111111111111111111" \
    "11111111111111111111111111"                                               \
    "3220" VEC_V5_COMMIT                                                       \
    "3a200000000000000000000000000000000000000000000000000000000000000000"     \
    "42202222222222222222222222222222222222222222222222222222222222222222"     \
    "5220" VEC_V2_ADDR "620a746573742d636861696e"
#define VEC_V8_HASH "3a6e20c62fd84c1577ed09a7ac0b728d1025a1147bc59c271c717a74004f4ad4"
#define VEC_V9_SIG                                                             \
    "478d2ab26a6c8149a554da5339a61ec0a9e34cc17f48ac0cf09cc9ccfa344c83c70a2a40" \
    "0b2ed8659bfb37e9ace6de247d4737971c2e138d1e1feab6f8c72904"
#define VEC_V10_SIGNED_HEADER                                                  \
    "0ac401" VEC_V7_HEADER "1240" VEC_V9_SIG "1a480a20" VEC_V2_ADDR "1224"     \
        VEC_V3_LIBP2P
#define VEC_V14_DATA                                                           \
    "0a3a0a0a746573742d636861696e1002188080a8b1e39fe7cb172220"                 \
    "3333333333333333333333333333333333333333333333333333333333333333"         \
    "12037478311203747832"
#define VEC_V15_HASH "8f9daea95cacf8cccf4b655fd422cc077e8a23c808ac4e899527333f63590873"
#define VEC_V16_SIG                                                            \
    "36cabd4bcbba83052c9715672e8bf7bea9fb1c3f67b919ad35b7a4ba0878a40cf0ca4fc1" \
    "1af85fc9c40f1097cbc18e9e2314799aeec1b0d9bc8c132987b85c04"
#define VEC_V17_SIGNED_DATA                                                    \
    "0a46" VEC_V14_DATA "1240" VEC_V16_SIG "1a480a20" VEC_V2_ADDR "1224"       \
        VEC_V3_LIBP2P

/* Time of the vector blocks (V7, V14): 1700000000 s in ns. */
#define VEC_TIME 1700000000000000000ull

#endif /* BM_TESTS_VALIDATE_BM_VECTORS_H */
