#include "bm_test.h"
#include "actors_test_util.h"
#include "blockv2/store.h"
static void t(void **s){ (void)s; struct at_node n; struct at_opts o={.aggregator=true,.with_da=true};
 at_node_open(&n,&o); struct bm_state st={0}; at_latest_state(&n,&st);
 const char *txs[]={"a=1","b=2",NULL}; struct bm_block *b=at_make_block(&n,&st,txs);
 assert_int_equal(b->sh.header.height,1);
 bm_block_unref(b); bm_state_release(&st); at_start(&n); at_node_close(&n,true);}
int main(void){const struct CMUnitTest tests[]={cmocka_unit_test(t)}; return BM_TEST_RUN(tests);}
