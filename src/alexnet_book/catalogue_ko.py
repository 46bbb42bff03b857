"""The Korean phrase catalogue: every phrase the package and the chapters glue, in Korean (the 한국어판's words).

As gettext keeps a translation under its English msgid, SENTENCES keeps each Korean phrase under the English template
that `bilingual.say` is called with; the fields are the same ({points:.1f}), and a field followed by a particle pair
("{leader:이/가}") gets the particle its last sound takes. Phrases are written in 한다체, as the Korean pages are; a
clause ends without a period, so the page puts it at the end of its own sentence. TERMS translates the names the
chapters pass around (ablations, classes), COUNTERS the nouns counted ("3 에폭"). Terms follow the glossary page
(ko/book/glossary.md). tests/test_bilingual.py checks that every entry is used and that its fields match.
"""

SENTENCES = {
    # data and devices
    "CIFAR-10 read from a folder": "폴더에서 읽은 CIFAR-10",
    "CIFAR-10 from the Keras download": "Keras로 내려받은 CIFAR-10",
    "the generated stand-in (not CIFAR-10)": "생성한 대체 데이터(CIFAR-10 아님)",
    "CPU ({cores} cores)": "CPU({cores}코어)",
    "GPU: {name}": "GPU: {name}",
    "{count} virtual CPU devices that share one CPU's cores": "CPU 하나의 코어를 나눠 쓰는 가상 CPU 장치 {number}개",
    "{count} {kinds}s": "{kinds} {number}개",
    # lists and ranges
    "none": "없음",
    "none of them": "하나도 없음",
    "nothing": "없음",
    "{low:,}": "{low:,}",
    "between {low:,} and {high:,}": "{low:,}~{high:,}",
    "{low:.1%}": "{low:.1%}",
    "{low:.1%} to {high:.1%}": "{low:.1%}~{high:.1%}",
    "{low} to {high}": "{low}~{high}",
    "{ratio:.1f}": "{ratio:.1f}",
    # chapter 3
    "TensorFlow's own op, run on this page, gives the same values, with its defaults and with the paper's "
    "constants": "이 페이지에서 실행한 TensorFlow 자체 연산도 기본값으로든 논문의 상수로든 같은 값을 낸다",
    "this page ran on the {backend} backend, so the comparison with TensorFlow's own op was skipped": (
        "이 페이지는 {backend} 백엔드에서 실행되었으므로 TensorFlow 자체 연산과의 비교는 건너뛰었다"
    ),
    # chapter 4
    "{activation}, rate {rate:g}": "{activation}, 학습률 {rate:g}",
    "both got there in the same epoch": "둘 다 같은 에폭에 도달했다",
    "ReLU got there first": "ReLU가 먼저 도달했다",
    "tanh got there first": "tanh가 먼저 도달했다",
    "only ReLU got there": "ReLU만 도달했다",
    "only tanh got there": "tanh만 도달했다",
    "neither got there": "둘 다 도달하지 못했다",
    "not measurable in this run": "이번 실행에서는 잴 수 없음",
    "reached it in {epochs}": "{epochs} 만에 도달했다",
    "had not reached it after {epochs}": "{epochs:이/가} 지나도록 도달하지 못했다",
    "training accuracy the same": "훈련 정확도와 검증 정확도가 같음",
    "training accuracy {points:.1f} points higher": "훈련 정확도가 검증 정확도보다 {points:.1f}%p 높음",
    "training accuracy {points:.1f} points lower": "훈련 정확도가 검증 정확도보다 {points:.1f}%p 낮음",
    "they differ by {points:.1f} points, within the {noise:.1f} points that chance alone moves an accuracy on "
    "these images: no winner": (
        "차이는 {points:.1f}%p로, 이 이미지들에서 우연만으로 정확도가 움직이는 {noise:.1f}%p 안이다. 승자는 없다"
    ),
    "they differ by {points:.1f} points in favour of {winner}, more than the {noise:.1f} points that chance "
    "alone moves an accuracy on these images": (
        "{winner:이/가} {points:.1f}%p 앞서며, 이는 이 이미지들에서 우연만으로 정확도가 움직이는 {noise:.1f}%p보다 크다"
    ),
    "{leader} scored highest, but at most {lead:.1f} points above the others, within the {noise:.1f} points "
    "of noise: no winner": (
        "{leader:이/가} 가장 높았지만 다른 실행보다 많아야 {lead:.1f}%p 높을 뿐이고, 이는 잡음 {noise:.1f}%p 안이다. "
        "승자는 없다"
    ),
    "{leader} scored highest, {leads}": "{leader:이/가} 가장 높았다. {leads} 앞섰다",
    "{lead:.1f} points above {name} (beyond the {noise:.1f} points of noise)": (
        "{name}보다 {lead:.1f}%p(잡음 {noise:.1f}%p를 넘음)"
    ),
    "{lead:.1f} points above {name} (within the {noise:.1f} points of noise)": (
        "{name}보다 {lead:.1f}%p(잡음 {noise:.1f}%p 안)"
    ),
    "{lead:.1f} points above {name} (beyond them)": "{name}보다 {lead:.1f}%p(잡음을 넘음)",
    "{lead:.1f} points above {name} (within them)": "{name}보다 {lead:.1f}%p(잡음 안)",
    "dropout already pays off in a run this short": "이렇게 짧은 실행에서도 드롭아웃이 이미 효과를 낸다",
    "the network without dropout had begun to memorize its training images, yet in a run this short dropout cost "
    "more by slowing learning than it saved by holding memorization back": (
        "드롭아웃이 없는 네트워크는 훈련 이미지를 외우기 시작했지만, 이렇게 짧은 실행에서는 드롭아웃이 외우기를 "
        "막아 얻은 것보다 학습을 늦춰 잃은 것이 더 크다"
    ),
    "the network without dropout had not begun to memorize yet, so dropout only slowed its learning": (
        "드롭아웃이 없는 네트워크는 아직 외우기 시작하지 않았으므로 드롭아웃은 학습을 늦추기만 했다"
    ),
    "the network without dropout had begun to memorize its training images, but dropout's effect on the "
    "validation accuracy is within the noise of a run this short": (
        "드롭아웃이 없는 네트워크는 훈련 이미지를 외우기 시작했지만, 검증 정확도에 대한 드롭아웃의 효과는 이렇게 "
        "짧은 실행의 잡음 안에 있다"
    ),
    "dropout's effect is within the noise of a run this short": "드롭아웃의 효과는 이렇게 짧은 실행의 잡음 안에 있다",
    "a square, the band-matrix product, a power and a product": "제곱, 띠 행렬 곱, 거듭제곱, 곱셈",
    "a square, the band-matrix product, a power and a product, and a conversion to float32 and back, since it "
    "computes in float32 under {precision}": (
        "제곱, 띠 행렬 곱, 거듭제곱, 곱셈, 그리고 {precision}에서도 float32로 계산하므로 float32로 "
        "바꿨다가 되돌리는 변환"
    ),
    # chapter 5
    "the set is balanced, so accuracy is a fair summary and chance is one in ten": (
        "클래스가 균형을 이루므로 정확도만으로도 성능을 공정하게 요약할 수 있고, 우연 수준은 10분의 1이다"
    ),
    "the set is nearly balanced (each class is between {smallest:.1%} and {largest:.1%} of it), so accuracy is a "
    "fair summary and chance is about one in ten: always naming the largest class would score {largest:.1%}": (
        "클래스가 거의 균형을 이루므로(클래스마다 {smallest:.1%}~{largest:.1%}) 정확도만으로도 성능을 공정하게 "
        "요약할 수 있고, 우연 수준은 약 10분의 1이다. 늘 가장 큰 클래스로만 답해도 {largest:.1%}를 맞힌다"
    ),
    "the set is not balanced ({smallest:.1%} to {largest:.1%} per class), so accuracy flatters a network that "
    "favours the large classes: always naming the largest class already scores {largest:.1%}": (
        "클래스가 균형을 이루지 않으므로(클래스마다 {smallest:.1%}~{largest:.1%}) 정확도는 큰 클래스를 편드는 "
        "네트워크를 실제보다 좋게 보이게 한다. 늘 가장 큰 클래스로만 답해도 이미 {largest:.1%}를 맞힌다"
    ),
    "Without a shuffle both passes give the same batches in the same order; with it, each pass has its own order.": (
        "섞지 않으면 두 번의 순회가 같은 배치를 같은 순서로 내놓고, 섞으면 순회마다 순서가 다르다."
    ),
    "This page ran on the {backend} backend, so this tf.data demonstration was skipped.": (
        "이 페이지는 {backend} 백엔드에서 실행되었으므로 이 tf.data 시연은 건너뛰었다."
    ),
    "This page ran on the {backend} backend, so the two tf.data pipelines were not timed (run it on TensorFlow to "
    "see their rates). On a CPU-only machine they would not limit training anyway, because the network itself is far "
    "slower.": (
        "이 페이지는 {backend} 백엔드에서 실행되었으므로 두 tf.data 파이프라인의 시간은 재지 않았다(속도를 보려면 "
        "TensorFlow에서 실행해 보라). CPU만 있는 머신에서는 어차피 네트워크 자체가 훨씬 느리므로 파이프라인이 훈련을 "
        "제한하지 않는다."
    ),
    "Over {images:,} training images, the post's pipeline delivered {post:,.0f} images per second on this machine, "
    "and uint8 batches {uint8:,.0f}: about {speedup:,.0f} times as many. On a CPU-only machine neither number "
    "limits training, because the network itself is far slower.": (
        "훈련 이미지 {images:,}장으로 재어 보니, 이 머신에서 블로그 글의 파이프라인은 초당 이미지 {post:,.0f}장을, "
        "uint8 배치는 {uint8:,.0f}장을 내놓았다. uint8 배치가 약 {speedup:,.0f}배 많다. CPU만 있는 머신에서는 "
        "네트워크 자체가 훨씬 느리므로 어느 쪽도 훈련을 제한하지 않는다."
    ),
    "the images on the host": "호스트에 있는 이미지",
    "images (here {post:,.0f} a second, {megabytes:,.0f} MB a second to push across to the GPU)": (
        "이미지(여기서는 초당 {post:,.0f}장, GPU로 보낼 데이터로 치면 초당 {megabytes:,.0f}MB)"
    ),
    # chapter 6
    "has": "있다",
    "has no (or the book cannot tell)": "없거나, 있는지 이 책이 알아낼 수 없다",
    "on": "켬",
    "off": "끔",
    "with": "사용",
    "without": "사용하지 않음",
    "with the paper's recipe": "논문의 레시피 그대로",
    "with the paper's optimizer, weight decay and schedule, but a smaller starting rate and batch and no "
    "augmentation (the short profiles' changes, below)": (
        "논문의 옵티마이저, 가중치 감쇠, 스케줄을 따르되 시작 학습률과 배치 크기를 줄이고 데이터 증강은 "
        "하지 않는 설정(짧은 프로파일의 변경 사항, 아래 참고)"
    ),
    "with the paper's optimizer, weight decay, schedule and augmentation, but another rate or batch": (
        "논문의 옵티마이저, 가중치 감쇠, 스케줄, 데이터 증강을 따르되 학습률이나 배치 크기가 다른 설정"
    ),
    "this time the cell found the run finished in its folder and trained nothing": (
        "이번에는 셀이 폴더에서 끝난 실행을 찾아 아무것도 훈련하지 않았다"
    ),
    "the whole cell took {seconds:,.0f} seconds": "셀 전체에 {seconds:,.0f}초가 걸렸다",
    "never divided": "한 번도 나누지 않았다",
    "divided once": "한 번 나누었다",
    "divided twice": "두 번 나누었다",
    "divided {count} times": "{count}번 나누었다",
    # chapter 7
    "training has replaced the initial noise with smooth patterns": "훈련이 초기의 잡음을 매끄러운 패턴으로 바꾸었다",
    "training has begun to smooth the initial noise": "훈련이 초기의 잡음을 매끄럽게 만들기 시작했다",
    "training has hardly changed the initial noise": "훈련이 초기의 잡음을 거의 바꾸지 못했다",
    "fc7 groups images by class much better than their pixels do": "fc7은 픽셀보다 이미지를 클래스별로 훨씬 잘 묶는다",
    "fc7 groups images by class better than their pixels do": "fc7은 픽셀보다 이미지를 클래스별로 더 잘 묶는다",
    "fc7 groups images by class about as well as their pixels do; this model has learnt little beyond them": (
        "fc7이 이미지를 클래스별로 묶는 정도가 픽셀과 비슷하니, 이 모델은 픽셀을 넘어서는 것을 거의 학습하지 못했다"
    ),
    "the pixels group images by class better than fc7 does; this model has not learnt a useful fc7 yet": (
        "픽셀이 fc7보다 이미지를 클래스별로 더 잘 묶으니, 이 모델은 아직 쓸모 있는 fc7을 학습하지 못했다"
    ),
    "loaded from {checkpoint}": "{checkpoint}에서 불러왔다",
    "a finished run found there, reused": "그 폴더에서 찾은 끝난 실행을 재사용",
    "resumed here after epoch {epoch}": "{epoch}번째 에폭 다음부터 여기서 이어서 훈련",
    "trained on this page": "이 페이지에서 훈련",
    "trained by alexnet_book.train at the {profile} profile ({epochs} on {images}; the weights of epoch {best}, "
    "the best on validation), in {folder} ({how})": (
        "alexnet_book.train이 {profile} 프로파일로 훈련했다({images:으로/로} {epochs}. 가중치는 검증 성능이 가장 "
        "좋았던 {best}번째 에폭의 것이다. 폴더 {folder}, {how})"
    ),
    # chapter 8
    "each run is too short to measure anything: the baseline ended at {accuracy:.1%} validation accuracy, not "
    "clearly above chance, so the runs only check that every variant builds and trains": (
        "각 실행은 무엇을 재기에는 너무 짧다. 기준선의 검증 정확도가 {accuracy:.1%}로 우연 수준보다 뚜렷이 높지 "
        "않으므로, 이 실행들은 모든 변형이 만들어지고 훈련되는지만 확인한다"
    ),
    "the baseline reached {accuracy:.1%} validation accuracy, and a difference counts only beyond {noise:.1f} "
    "points of noise": "기준선의 검증 정확도는 {accuracy:.1%}이고, 차이는 잡음 {noise:.1f}%p를 넘을 때만 의미가 있다",
    "the baseline learned: its validation accuracy is clearly above chance": (
        "기준선이 학습해 검증 정확도가 우연 수준을 뚜렷이 넘었다"
    ),
    "not even the baseline got clearly above chance": "기준선조차 우연 수준을 뚜렷이 넘지 못했다",
    "{change:+.1f} points ({name})": "{change:+.1f}%p({name})",
    # chapter 9
    "mixed_bfloat16 and float32 trained about as fast (mixed_bfloat16 at {ratio:.2f} times float32's best rate); "
    "alexnet_book.hardware.precision_policy() picks {policy} here": (
        "mixed_bfloat16과 float32의 훈련 속도는 거의 같았고(mixed_bfloat16이 float32 최고 속도의 {ratio:.2f}배), "
        "이 머신에서 alexnet_book.hardware.precision_policy()는 {policy:을/를} 고른다"
    ),
    "{faster} trained faster (bfloat16 at {ratio:.2f} times float32's best rate), and it is what "
    "alexnet_book.hardware.precision_policy() picks here": (
        "{faster:으로/로} 훈련한 쪽이 더 빨랐고(bfloat16이 float32 최고 속도의 {ratio:.2f}배), 이 머신에서 "
        "alexnet_book.hardware.precision_policy()도 그것을 고른다"
    ),
    "{faster} trained faster (bfloat16 at {ratio:.2f} times float32's best rate), but {policy} is what "
    "alexnet_book.hardware.precision_policy() picks here": (
        "{faster:으로/로} 훈련한 쪽이 더 빨랐지만(bfloat16이 float32 최고 속도의 {ratio:.2f}배), 이 머신에서 "
        "alexnet_book.hardware.precision_policy()는 {policy:을/를} 고른다"
    ),
    "none yet": "아직 없음",
    "{rate:,.0f} images per second, {share:.0%} of the yardstick": "초당 이미지 {rate:,.0f}장, 잣대의 {share:.0%}",
    "This page ran on the {backend} backend, so the tf.data pipelines were not timed (chapter 5 and this chapter "
    "time them on TensorFlow), but the conclusion does not depend on it:": (
        "이 페이지는 {backend} 백엔드에서 실행되었으므로 tf.data 파이프라인의 시간은 재지 않았다(5장과 이 장은 "
        "TensorFlow에서 잰다). 그래도 결론은 그와 상관없다."
    ),
    "On this machine the post's pipeline delivered {post:,.0f} images per second ({megabytes:,.0f} MB/s to copy to "
    "a device), and uint8 batches {uint8:,.0f}. Fed by the post's pipeline on a host like this one, the GPU above "
    "would get {share:.0%} of the images it can train on;": (
        "이 머신에서 블로그 글의 파이프라인은 초당 이미지 {post:,.0f}장(장치로 복사할 양으로 {megabytes:,.0f} MB/s)을, "
        "uint8 배치는 {uint8:,.0f}장을 내놓았다. 이런 호스트에서 블로그 글의 파이프라인으로 데이터를 받으면 위의 "
        "GPU는 훈련할 수 있는 이미지의 {share:.0%}를 받는다."
    ),
    # chapter 10
    "the times compare the programs' overheads on one processor, not what two GPUs would gain": (
        "이 시간은 프로세서 하나 위에서 각 프로그램의 부가 비용을 비교할 뿐, GPU 두 개로 얻을 이득을 보여 주지 않는다"
    ),
    "the times include the transfers between them": "이 시간에는 장치 사이의 전송이 포함된다",
    "more than": "더 많다",
    "less than": "더 적다",
    "as much as": "같다",
    "about as much as": "거의 같다",
    "fell": "줄었다",
    "rose": "늘었다",
    "no batch size": "어떤 배치 크기에서도 만나지 않는다",
    "about {batch:,.0f} images": "배치 약 {batch:,.0f}장에서 만난다",
    "(none found)": "(찾지 못함)",
}

# Names the chapters pass to phrases (ablations, normalizations, poolings, CIFAR-10's classes).
TERMS = {
    "baseline": "기준선",
    "LRN, not BN": "BN 대신 LRN",
    "no normalization": "정규화 없음",
    "no dropout": "드롭아웃 없음",
    "dropout": "드롭아웃",
    "the constant divisor": "상수 나눗셈",
    "augmentation": "데이터 증강",
    "two groups": "두 그룹",
    "side-by-side pooling": "겹치지 않는 풀링",
    "overlapping pooling": "겹치는 풀링",
    "airplane": "비행기",
    "automobile": "자동차",
    "bird": "새",
    "cat": "고양이",
    "deer": "사슴",
    "dog": "개",
    "frog": "개구리",
    "horse": "말",
    "ship": "배",
    "truck": "트럭",
    # the recorded GPU runs' names (chapter 9)
    "PyTorch eager, fp32, resize on the GPU": "PyTorch 즉시 실행, fp32, GPU에서 크기 조정",
    "PyTorch eager, bf16 autocast": "PyTorch 즉시 실행, bf16 autocast",
    "PyTorch eager, bf16": "PyTorch 즉시 실행, bf16",
    "PyTorch torch.compile, bf16": "PyTorch torch.compile, bf16",
    "Keras on JAX, float32, host-resized 227x227 float32 input (the post's feed)": (
        "JAX 위의 Keras, float32, 호스트에서 227x227로 크기 조정한 float32 입력(블로그 글의 입력 방식)"
    ),
    "Keras on JAX, float32, uint8 32x32 resized inside the model": (
        "JAX 위의 Keras, float32, 모델 안에서 크기 조정하는 uint8 32x32 입력"
    ),
    "Keras on JAX, mixed_bfloat16, resize inside the model": "JAX 위의 Keras, mixed_bfloat16, 모델 안에서 크기 조정",
}

# Nouns counted in the chapters' phrases: the Korean count, with its counter.
COUNTERS = {
    "epoch": "{number:,} 에폭",
    "image": "이미지 {number:,}장",
    "step": "{number:,} 스텝",
    "round": "{number:,}회",
    "all-reduce": "all-reduce {number:,}개",
    "other collective": "그 밖의 집합 통신 {number:,}개",
}
