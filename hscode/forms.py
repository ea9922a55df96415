"""Forms of the detail pages."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

CURRENCIES = ["USD", "EUR", "CNY", "JPY", "GBP", "VND", "AUD", "CAD", "CHF", "HKD", "SGD", "THB", "KRW"]


class DutyEstimateForm(forms.Form):
    """Customs value (with its currency) or a value in won, and the origin country."""

    value = forms.DecimalField(label=_("과세가격"), required=False, min_value=0, max_digits=16, decimal_places=2)
    currency = forms.ChoiceField(label=_("통화"), choices=[(c, c) for c in CURRENCIES], initial="USD",
                                 required=False)
    krw = forms.IntegerField(label=_("원화 과세가격 (환율 없이 직접 입력)"), required=False, min_value=0,
                             max_value=10**15)
    origin = forms.CharField(
        label=_("원산지 국가 코드"), max_length=2, min_length=2,
        validators=[RegexValidator(r"^[A-Za-z]{2}$", _("두 글자 국가 코드(예: US, CN, DE)를 입력하세요."))],
    )

    def clean_origin(self) -> str:
        return self.cleaned_data["origin"].upper()

    def clean(self) -> dict:
        data = super().clean()
        if data.get("value") is None and data.get("krw") is None:
            raise forms.ValidationError(_("과세가격(외화) 또는 원화 과세가격 중 하나를 입력하세요."))
        return data
